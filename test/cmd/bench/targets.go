package main

import (
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/perf"
)

// A target checks one count of a report: ok, and whether it applies to the
// report's configuration (e.g. "no logins at the poll" only with the token
// cache on). make bench fails when an applicable target is missed.
// Latencies and memory are reported, not checked: they depend on the
// machine and on what else runs on it.
type target func(o options, r *report) (ok, applies bool)

func noStormErrors(get func(*report) *storm) target {
	return func(_ options, r *report) (bool, bool) { return get(r).errors == 0, true }
}

// stormLoginsPerIdentity: with the token cache, concurrent Mounts of one
// identity share one login.
func stormLoginsPerIdentity(get func(*report) *storm) target {
	return func(_ options, r *report) (bool, bool) {
		s := get(r)
		return s.req.logins == int64(s.identities), r.cfg.tokenCache
	}
}

// stormAzurePerIdentity: one Azure token per identity's login.
func stormAzurePerIdentity(get func(*report) *storm) target {
	return func(_ options, r *report) (bool, bool) {
		s := get(r)
		return s.req.azure == int64(s.identities), r.cfg.tokenCache
	}
}

func pollNoLogins(get func(*report) *rotation) target {
	return func(_ options, r *report) (bool, bool) { return get(r).req.logins == 0, r.cfg.tokenCache }
}

func pollNoAzure(get func(*report) *rotation) target {
	return func(_ options, r *report) (bool, bool) { return get(r).req.azure == 0, r.cfg.tokenCache }
}

// pollReadsPerPair: with the secret cache, at most one read per (identity,
// path) per poll.
func pollReadsPerPair(get func(*report) *rotation) target {
	return func(_ options, r *report) (bool, bool) {
		rot := get(r)
		return rot.req.reads <= int64(rot.unique), r.cfg.secretCache
	}
}

func noPollErrors(get func(*report) *rotation) target {
	return func(_ options, r *report) (bool, bool) { return get(r).errors == 0, true }
}

// warmCPUWithinBudget: a warm Mount answered from the caches costs the
// provider at most the checked-in budget (test/perf/budget.json) of CPU.
func warmCPUWithinBudget(_ options, r *report) (bool, bool) {
	return float64(r.warmCPU) <= budget.WarmMountCPUMillis*float64(time.Millisecond), r.cfg.budget
}

// startUpWithinBudget: the provider serves within the budget of its start.
func startUpWithinBudget(_ options, r *report) (bool, bool) {
	return float64(percentile(r.startUps, 50)) <= budget.StartUpMillis*float64(time.Millisecond), true
}

// budget is the checked-in performance budget (loaded in main).
var budget perf.Budget
