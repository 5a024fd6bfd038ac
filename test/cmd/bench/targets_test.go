package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleReport(cfg config) *report {
	st := func(ids int) *storm {
		return &storm{identities: ids, mounts: 1000, wall: time.Second, latencies: []time.Duration{time.Millisecond},
			req: counters{logins: int64(ids), reads: 10, azure: int64(ids)}}
	}
	rot := func(unique int) *rotation { return &rotation{polls: 1000, unique: unique} }
	return &report{cfg: cfg, storm: st(1), multi: st(10), rot: rot(10), multiRot: rot(100),
		cold1: []time.Duration{1}, cold10: []time.Duration{1}, warm1: []time.Duration{1}, warm10: []time.Duration{1},
		idleRSS: 1, postBurstRSS: 1, afterRSS: 1}
}

// TestTargetsMissedAreReported: a report that meets every count target
// passes; each kind of miss is marked in the table and returned, so make
// bench exits non-zero; a target that does not apply to a configuration
// (no logins at the poll without the token cache) is not checked.
func TestTargetsMissedAreReported(t *testing.T) {
	o := options{pods: 1000, identities: 10, objects: 10, coldSamples: 1, warmSamples: 1, afterStorm: 30 * time.Second}
	cached, nocache := configs[0], configs[3]
	tests := []struct {
		name  string
		cfg   config
		spoil func(r *report)
		want  string // "" : no miss
	}{
		{"all met", cached, func(*report) {}, ""},
		{"storm errors", cached, func(r *report) { r.storm.errors, r.storm.firstErr = 3, errors.New("boom") }, "errors (target 0)"},
		{"two logins for one identity", cached, func(r *report) { r.storm.req.logins = 2 }, "Vault logins / reads per Mount"},
		{"Azure tokens per identity", cached, func(r *report) { r.multi.req.azure = 11 }, "Azure token requests (Entra, IMDS, NMI"},
		{"logins at the poll", cached, func(r *report) { r.rot.req.logins = 1 }, "rotation poll after the storm: Vault logins"},
		{"two reads per pair at the poll", cached, func(r *report) { r.multiRot.req.reads = 201 }, "reads per unique (identity, path)"},
		{"Azure tokens at the poll", cached, func(r *report) { r.rot.req.azure = 1 }, "rotation poll after the storm: Azure token requests"},
		{"poll errors", cached, func(r *report) { r.multiRot.errors, r.multiRot.firstErr = 1, errors.New("x") }, "rotation poll, 10 identities: errors"},
		{"no caches: logins at every poll are expected", nocache, func(r *report) {
			r.storm.req.logins, r.rot.req.logins, r.rot.req.reads, r.rot.req.azure = 1000, 1000, 10000, 1000
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport(tc.cfg)
			tc.spoil(r)
			var b strings.Builder
			missed := writeTable(&b, o, []*report{r})
			if tc.want == "" {
				if len(missed) != 0 {
					t.Fatalf("missed %q, want none", missed)
				}
				return
			}
			if len(missed) != 1 || !strings.Contains(missed[0], tc.want) {
				t.Fatalf("missed %q, want one naming %q", missed, tc.want)
			}
			if !strings.Contains(b.String(), " ✗ |") {
				t.Errorf("the table does not mark the miss:\n%s", b.String())
			}
		})
	}
}
