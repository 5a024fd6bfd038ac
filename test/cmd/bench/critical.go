package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// step is one kind of request a cold Mount makes, from the first's arrival
// to the last's answer, relative to the Mount call.
type step struct {
	what       string
	n          int
	start, end time.Duration
}

// criticalPath is what a cold Mount waited for: its requests to Entra ID
// and Vault in the order they began, and the Mount's own duration.
type criticalPath struct {
	steps []step
	total time.Duration
}

// traceMount mounts req on c and records the requests the world answered
// meanwhile (the world serves only this Mount then).
func traceMount(ctx context.Context, w *world.World, c *driver.Client, req *v1alpha1.MountRequest) (*criticalPath, error) {
	var mu sync.Mutex
	byStep := map[string]*step{}
	var t0 time.Time
	note := func(what string, start, end time.Time) {
		mu.Lock()
		defer mu.Unlock()
		s := byStep[what]
		if s == nil {
			s = &step{what: what, start: start.Sub(t0)}
			byStep[what] = s
		}
		s.n++
		s.start, s.end = min(s.start, start.Sub(t0)), max(s.end, end.Sub(t0))
	}
	w.Azure.SetObserver(func(o azureemu.Observed) { note(azureStep(o.Path), o.Start, o.End) })
	w.Vault.SetObserver(func(r vaultfront.Request) { note(vaultStep(r), r.Start, r.End) })
	defer w.Azure.SetObserver(nil)
	defer w.Vault.SetObserver(nil)
	t0 = time.Now()
	_, d, err := mount(ctx, c, req)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	cp := &criticalPath{total: d}
	for _, s := range byStep {
		cp.steps = append(cp.steps, *s)
	}
	slices.SortFunc(cp.steps, func(a, b step) int { return int(a.start - b.start) })
	return cp, nil
}

func azureStep(path string) string {
	switch {
	case strings.Contains(path, "/oauth2/v2.0/token"), strings.Contains(path, "/oauth2/token"):
		return "Entra ID: token (federated assertion exchanged)"
	case strings.Contains(path, "openid-configuration"):
		return "Entra ID: tenant metadata"
	case strings.Contains(path, "/metadata/identity"):
		return "IMDS: token"
	}
	return "Azure: " + path
}

func vaultStep(r vaultfront.Request) string {
	switch {
	case strings.Contains(r.Path, "/login"):
		return "Vault: login"
	case strings.HasPrefix(r.Path, "sys/internal/ui/mounts/"):
		return "Vault: KV mount lookup"
	}
	return "Vault: " + r.Method + " reads"
}

func writeCriticalPath(b *strings.Builder, cp *criticalPath) {
	if cp == nil {
		return
	}
	fmt.Fprintf(b, "\n**Critical path of a cold Mount of 10 objects** (defaults, the median of the cold samples; ms after the Mount call; total %s ms):\n\n| step | requests | began | answered |\n|---|---|---|---|\n", ms(cp.total))
	for _, s := range cp.steps {
		fmt.Fprintf(b, "| %s | %d | %s | %s |\n", s.what, s.n, ms(s.start), ms(s.end))
	}
}
