package main

import (
	"fmt"
	"strings"
	"time"
)

// row is one line of the table: a label, a cell per report and, for rows
// with a count target, the check of it.
type row struct {
	label  string
	cell   func(r *report) string
	target target
}

// writeTable writes the table and returns the count targets missed; a
// missed target's cell is marked ✗.
func writeTable(b *strings.Builder, o options, reports []*report) (missed []string) {
	fmt.Fprintf(b, "| | %s |\n|---|", strings.Join(headers(reports), " | "))
	for range reports {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, rw := range rows(o) {
		cells := make([]string, len(reports))
		for i, r := range reports {
			cells[i] = rw.cell(r)
			if rw.target == nil {
				continue
			}
			if ok, applies := rw.target(o, r); applies && !ok {
				cells[i] += " ✗"
				missed = append(missed, fmt.Sprintf("%s — %s: %s", r.cfg.name, rw.label, cells[i]))
			}
		}
		fmt.Fprintf(b, "| %s | %s |\n", rw.label, strings.Join(cells, " | "))
	}
	return missed
}

func headers(reports []*report) []string {
	var hs []string
	for _, r := range reports {
		h := r.cfg.name
		if len(r.cfg.flags) > 0 {
			h += " `" + strings.Join(r.cfg.flags, " ") + "`"
		}
		hs = append(hs, h)
	}
	return hs
}

func rows(o options) []row {
	single := fmt.Sprintf("storm: %d concurrent Mounts, 1 identity, %d objects", o.pods, o.objects)
	multi := fmt.Sprintf("storm: %d concurrent Mounts, %d identities", o.pods, o.identities)
	rs := []row{
		{fmt.Sprintf("Mount p50 / p99 ms, 1 object, cold (fresh provider, n=%d)", o.coldSamples), func(r *report) string { return pct(r.cold1) }, nil},
		{fmt.Sprintf("Mount p50 / p99 ms, 10 objects, cold (n=%d)", o.coldSamples), func(r *report) string { return pct(r.cold10) }, nil},
		{fmt.Sprintf("Mount p50 / p99 ms, 1 object, warm (n=%d)", o.warmSamples), func(r *report) string { return pct(r.warm1) }, nil},
		{fmt.Sprintf("Mount p50 / p99 ms, 10 objects, warm (n=%d; target p50 ≤ 2)", o.warmSamples), func(r *report) string { return pct(r.warm10) }, nil},
		{fmt.Sprintf("provider CPU ms per warm Mount of 10 objects (user + system, n=%d; budget ≤ %.2f with the caches)", o.cpuSamples, budget.WarmMountCPUMillis),
			func(r *report) string { return fmt.Sprintf("%.3f", float64(r.warmCPU)/float64(time.Millisecond)) }, warmCPUWithinBudget},
		{fmt.Sprintf("start-up: process start → first Version answered, p50 / p99 ms (n=%d; budget p50 ≤ %.0f)", 2*o.coldSamples, budget.StartUpMillis),
			func(r *report) string { return pct(r.startUps) }, startUpWithinBudget},
	}
	rs = append(rs, stormRows(single, func(r *report) *storm { return r.storm })...)
	rs = append(rs, rotationRows("rotation poll after the storm", func(r *report) *rotation { return r.rot })...)
	if o.identities > 1 {
		rs = append(rs, stormRows(multi, func(r *report) *storm { return r.multi })...)
		rs = append(rs, rotationRows(fmt.Sprintf("rotation poll, %d identities", o.identities), func(r *report) *rotation { return r.multiRot })...)
	}
	return append(rs,
		row{"provider RSS idle after start (VmRSS; target ≤ 25 MiB)", func(r *report) string { return mib(r.idleRSS) }, nil},
		row{fmt.Sprintf("provider peak RSS in the %d-Mount storm (VmHWM; target ≤ 64 MiB)", o.pods), func(r *report) string { return mib(r.storm.peakRSS) }, nil},
		row{fmt.Sprintf("provider RSS %s after the storm, idle (VmRSS; target ≤ 1.5× idle)", o.afterStorm), func(r *report) string {
			return fmt.Sprintf("%s (%.2f× idle; anonymous %s, was %s; file pages %s, was %s)", mib(r.postBurstRSS), float64(r.postBurstRSS)/float64(r.idleRSS),
				mib(r.postAnon), mib(r.idleAnon), mib(r.postFile), mib(r.idleFile))
		}, nil},
		row{"provider RSS idle after storm, poll and warm Mounts (VmRSS)", func(r *report) string { return mib(r.afterRSS) }, nil},
	)
}

func stormRows(name string, get func(*report) *storm) []row {
	return []row{
		{name + ": Mounts/s", func(r *report) string {
			s := get(r)
			return fmt.Sprintf("%.0f (%d in %s)", float64(s.mounts)/s.wall.Seconds(), s.mounts, s.wall.Round(time.Millisecond))
		}, nil},
		{name + ": errors (target 0)", func(r *report) string { return errCell(get(r).errors, get(r).firstErr) }, noStormErrors(get)},
		{name + ": Mount p50 / p99 ms", func(r *report) string { return pct(get(r).latencies) }, nil},
		{name + ": Vault logins / reads per Mount (total; target 1 login per identity with the token cache)", func(r *report) string {
			s := get(r)
			n := float64(s.mounts)
			return fmt.Sprintf("%.3f / %.3f (%d / %d)", float64(s.req.logins)/n, float64(s.req.reads)/n, s.req.logins, s.req.reads)
		}, stormLoginsPerIdentity(get)},
		{name + ": other Vault requests (KV mount lookups, renewals)", func(r *report) string { return fmt.Sprint(get(r).req.other) }, nil},
		{name + ": Azure token requests (Entra, IMDS, NMI; target 1 per identity with the token cache)", func(r *report) string { return fmt.Sprint(get(r).req.azure) }, stormAzurePerIdentity(get)},
	}
}

func rotationRows(name string, get func(*report) *rotation) []row {
	return []row{
		{name + ": Vault logins (target 0 with the token cache)", func(r *report) string { return fmt.Sprint(get(r).req.logins) }, pollNoLogins(get)},
		{name + ": Vault reads per unique (identity, path) (target ≤ 1 with the secret cache)", func(r *report) string {
			rot := get(r)
			return fmt.Sprintf("%.2f (%d reads, %d pairs)", float64(rot.req.reads)/float64(rot.unique), rot.req.reads, rot.unique)
		}, pollReadsPerPair(get)},
		{name + ": Azure token requests (target 0 with the token cache)", func(r *report) string { return fmt.Sprint(get(r).req.azure) }, pollNoAzure(get)},
		{name + ": errors (target 0)", func(r *report) string { return errCell(get(r).errors, get(r).firstErr) }, noPollErrors(get)},
	}
}

func pct(ds []time.Duration) string {
	return ms(percentile(ds, 50)) + " / " + ms(percentile(ds, 99))
}

func errCell(n int, first error) string {
	if n == 0 {
		return "0"
	}
	msg := first.Error()
	if len(msg) > 80 {
		msg = msg[:80] + "…"
	}
	return fmt.Sprintf("%d (%s)", n, strings.ReplaceAll(msg, "|", "/"))
}
