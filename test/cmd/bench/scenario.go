package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// counters are the requests the world received.
type counters struct {
	logins, reads, writes, other, azure int64
}

func snapshot(w *world.World) counters {
	st := w.Vault.Stats()
	az := w.Azure.Counts()
	return counters{logins: st.Logins, reads: st.Reads, writes: st.Writes, other: st.Other,
		azure: az[azureemu.KindEntraToken] + az[azureemu.KindIMDSToken] + az[azureemu.KindNMI]}
}

func (c counters) sub(o counters) counters {
	return counters{c.logins - o.logins, c.reads - o.reads, c.writes - o.writes, c.other - o.other, c.azure - o.azure}
}

// storm is a burst of concurrent Mounts.
type storm struct {
	identities     int
	mounts, errors int
	firstErr       error
	wall           time.Duration
	latencies      []time.Duration
	req            counters
	peakRSS        int64
	versions       []map[string]string
}

// runStorm sends one Mount per volume, all at once, over one connection (as
// the driver does), and measures them.
func runStorm(ctx context.Context, w *world.World, p *world.Provider, vols []*driver.Volume) (*storm, error) {
	reqs := make([]*v1alpha1.MountRequest, len(vols))
	for i, v := range vols {
		r, err := v.Request(nil)
		if err != nil {
			return nil, err
		}
		reqs[i] = r
	}
	c, err := driver.Dial(p.Socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	s := &storm{mounts: len(vols), latencies: make([]time.Duration, len(vols)), versions: make([]map[string]string, len(vols))}
	errs := make([]error, len(vols))
	before := snapshot(w)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			s.versions[i], s.latencies[i], errs[i] = mount(cctx, c, reqs[i])
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	s.wall = time.Since(t0)
	s.req = snapshot(w).sub(before)
	for _, err := range errs {
		if err != nil {
			s.errors++
			if s.firstErr == nil {
				s.firstErr = err
			}
		}
	}
	m, err := world.MemoryOf(p.PID())
	s.peakRSS = m.Peak
	return s, err
}

// rotation is one rotation poll of every pod.
type rotation struct {
	polls, errors int
	firstErr      error
	req           counters
	unique        int // distinct (identity, path) pairs polled
}

// runRotation polls every pod once with its current versions, one after
// another as the driver's rotation reconciler does.
func runRotation(ctx context.Context, w *world.World, p *world.Provider, vols []*driver.Volume, current []map[string]string, unique int) (*rotation, error) {
	c, err := driver.Dial(p.Socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r := &rotation{polls: len(vols), unique: unique}
	before := snapshot(w)
	for i, v := range vols {
		req, err := v.Request(current[i])
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		_, _, err = mount(cctx, c, req)
		cancel()
		if err != nil {
			r.errors++
			if r.firstErr == nil {
				r.firstErr = err
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	r.req = snapshot(w).sub(before)
	return r, nil
}

// sequential mounts v count times, one after another, after one untimed
// mount that warms the caches, and returns the latencies.
func sequential(ctx context.Context, p *world.Provider, v *driver.Volume, count int) ([]time.Duration, error) {
	c, err := driver.Dial(p.Socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req, err := v.Request(nil)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := -1; i < count; i++ {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, d, err := mount(cctx, c, req)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("warm mount %d: %w", i, err)
		}
		if i >= 0 {
			out = append(out, d)
		}
	}
	return out, nil
}

// cpuPerMount is the provider's CPU time (user and system) per warm Mount
// of v, over count Mounts one after another.
func cpuPerMount(ctx context.Context, p *world.Provider, v *driver.Volume, count int) (time.Duration, error) {
	c, err := driver.Dial(p.Socket)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	req, err := v.Request(nil)
	if err != nil {
		return 0, err
	}
	before, err := processCPU(p.PID())
	if err != nil {
		return 0, err
	}
	for i := range count {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, _, err := mount(cctx, c, req)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("warm mount %d: %w", i, err)
		}
	}
	after, err := processCPU(p.PID())
	if err != nil {
		return 0, err
	}
	return (after - before) / time.Duration(max(count, 1)), nil
}

// cold starts a fresh provider (no cached Vault token, Azure token or
// secret) per sample and times its first Mount of v; each provider's
// start-up time is appended to startUps.
// With trace set, the critical path of the median sample is written to it.
func cold(ctx context.Context, w *world.World, flags []string, v *driver.Volume, samples int, startUps *[]time.Duration, trace **criticalPath) ([]time.Duration, error) {
	req, err := v.Request(nil)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	var paths []*criticalPath
	defer func() {
		if len(paths) > 0 {
			slices.SortFunc(paths, func(a, b *criticalPath) int { return int(a.total - b.total) })
			*trace = paths[(len(paths)-1)/2]
		}
	}()
	for i := range samples {
		p, err := startProvider(w, flags...)
		if err != nil {
			return nil, err
		}
		*startUps = append(*startUps, p.StartUp)
		c, err := driver.Dial(p.Socket)
		if err != nil {
			p.Stop()
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var d time.Duration
		if trace != nil {
			var cp *criticalPath
			if cp, err = traceMount(cctx, w, c, req); err == nil {
				paths, d = append(paths, cp), cp.total
			}
		} else {
			_, d, err = mount(cctx, c, req)
		}
		cancel()
		c.Close()
		if serr := p.Stop(); serr != nil {
			fmt.Fprintln(os.Stderr, "provider stop:", serr)
		}
		if err != nil {
			return nil, fmt.Errorf("cold mount %d: %w\n%s", i, err, p.Logs())
		}
		out = append(out, d)
	}
	return out, nil
}
