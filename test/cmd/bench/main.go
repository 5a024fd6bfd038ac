// Command bench measures the provider binary in the hermetic world: Mount
// latency (cold and warm), a storm of concurrent Mounts from pods of one
// Deployment (and of several identities), the rotation poll after it, the
// Vault and Azure requests they cause, and the provider's memory — with the
// default caches and with caching disabled by flags. It prints a markdown
// table. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/perf"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

type options struct {
	pods, identities, objects int
	coldSamples, warmSamples  int
	cpuSamples                int
	settle, timeout           time.Duration
	afterStorm                time.Duration
	out                       string
}

// config is one way of running the provider; pollAfter is how long after
// the storm the rotation poll starts. tokenCache and secretCache say which
// count targets apply (see targets.go).
type config struct {
	name                    string
	flags                   []string
	pollAfter               time.Duration
	tokenCache, secretCache bool
	budget                  bool // the CPU budget of a warm Mount applies
}

var configs = []config{
	{"cached (defaults)", nil, 0, true, true, true},
	// Steady state: the cached secrets have expired by the next poll, as with
	// the default TTL (2m) and the driver's default poll interval (2m).
	{"cache expired before the poll", []string{"--secret-cache-ttl=3s"}, 3500 * time.Millisecond, true, true, false},
	{"token cache only", []string{"--secret-cache-ttl=0"}, 0, true, false, false},
	{"no caches", []string{"--disable-token-cache", "--secret-cache-ttl=0"}, 0, false, false, false},
}

func main() {
	var o options
	flag.IntVar(&o.pods, "pods", 1000, "pods in the storm")
	flag.IntVar(&o.identities, "identities", 10, "identities in the second storm (1: skip it)")
	flag.IntVar(&o.objects, "objects", benchPaths, "objects per Mount in the storms (at most 10)")
	flag.IntVar(&o.coldSamples, "cold", 10, "cold Mounts per class (each on a fresh provider)")
	flag.IntVar(&o.warmSamples, "warm", 200, "warm Mounts per class")
	flag.IntVar(&o.cpuSamples, "cpu-mounts", 3000, "warm Mounts of 10 objects over which the provider's CPU time is measured")
	flag.DurationVar(&o.settle, "settle", 2*time.Second, "wait after the provider starts before measuring idle RSS")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.DurationVar(&o.afterStorm, "after-storm", 30*time.Second, "idle time after the storm before the post-burst RSS is read (then the rotation poll)")
	flag.StringVar(&o.out, "o", "", "also write the table to this file")
	flag.Parse()
	var err error
	if budget, err = perf.LoadBudget(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// volumeSet is every volume the bench mounts, prepared before timing.
type volumeSet struct {
	single map[int]*driver.Volume // objects → one web pod's volume
	storm  []*driver.Volume       // pods of one Deployment
	multi  []*driver.Volume       // pods of several identities
}

func run(o options) error {
	if o.objects < 1 || o.objects > benchPaths || o.pods < 1 || o.identities < 1 {
		return fmt.Errorf("need 1 <= -objects <= %d, -pods >= 1, -identities >= 1", benchPaths)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	started := time.Now()
	progress("starting the world")
	w, err := world.Start()
	if err != nil {
		return err
	}
	defer w.Close()
	ids, err := seed(w, o.identities)
	if err != nil {
		return err
	}
	progress("preparing %d volumes", 2*o.pods+2)
	set, err := prepare(w, ids, o)
	if err != nil {
		return err
	}
	var reports []*report
	for _, cfg := range configs {
		progress("config %q", cfg.name)
		r, err := runConfig(ctx, w, cfg, o, set)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.name, err)
		}
		reports = append(reports, r)
	}
	progress("hostile neighbours")
	nb, err := runNeighbours(ctx, w, set.single[10], o.warmSamples)
	if err != nil {
		return fmt.Errorf("hostile neighbours: %w", err)
	}
	var out strings.Builder
	missed := writeTable(&out, o, reports)
	writeCriticalPath(&out, reports[0].coldPath)
	missed = append(missed, writeNeighbours(&out, nb)...)
	fmt.Fprintf(&out, "\nMachine: %s. Bench run took %s.\n", machine(), time.Since(started).Round(time.Second))
	fmt.Print(out.String())
	if refused := w.Proxy.Refused(); len(refused) > 0 {
		return fmt.Errorf("something tried to reach real hosts: %v", refused)
	}
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(out.String()), 0o644); err != nil {
			return err
		}
	}
	if len(missed) > 0 {
		return fmt.Errorf("%d count target(s) missed (marked ✗ in the table):\n  %s", len(missed), strings.Join(missed, "\n  "))
	}
	return nil
}

func prepare(w *world.World, ids []identity, o options) (*volumeSet, error) {
	set := &volumeSet{single: map[int]*driver.Volume{}}
	for _, n := range []int{1, 10} {
		v, err := w.VolumeAt(spc(webIdentity, n), world.WebPod, w.Dir+"/bench-target")
		if err != nil {
			return nil, err
		}
		set.single[n] = v
	}
	var err error
	if set.storm, err = volumes(w, ids[:1], o.pods, o.objects); err != nil {
		return nil, err
	}
	if o.identities > 1 {
		if set.multi, err = volumes(w, ids, o.pods, o.objects); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// report is what one config measured.
type report struct {
	cfg                          config
	cold1, cold10, warm1, warm10 []time.Duration
	warmCPU                      time.Duration // provider CPU per warm Mount of 10 objects
	startUps                     []time.Duration
	coldPath                     *criticalPath // of the first cold Mount of 10 objects
	idleRSS, afterRSS            int64
	postBurstRSS                 int64 // o.afterStorm after the storm
	idleAnon, idleFile           int64 // parts of idleRSS
	postAnon, postFile           int64 // parts of postBurstRSS
	storm, multi                 *storm
	rot, multiRot                *rotation
}

func runConfig(ctx context.Context, w *world.World, cfg config, o options, set *volumeSet) (*report, error) {
	r := &report{cfg: cfg}
	p, err := startProvider(w, cfg.flags...)
	if err != nil {
		return nil, err
	}
	stop := sync.OnceValue(p.Stop) // a second Stop would wait forever
	defer stop()
	time.Sleep(o.settle)
	idle, err := world.MemoryOf(p.PID())
	if err != nil {
		return nil, err
	}
	r.idleRSS, r.idleAnon, r.idleFile = idle.RSS, idle.Anon, idle.File
	progress("  storm of %d Mounts", len(set.storm))
	if r.storm, err = runStorm(ctx, w, p, set.storm); err != nil {
		return nil, err
	}
	r.storm.identities = 1
	progress("  idle for %s after the storm", o.afterStorm)
	time.Sleep(o.afterStorm)
	post, err := world.MemoryOf(p.PID())
	if err != nil {
		return nil, err
	}
	r.postBurstRSS, r.postAnon, r.postFile = post.RSS, post.Anon, post.File
	progress("  rotation poll")
	time.Sleep(max(cfg.pollAfter-o.afterStorm, 0))
	if r.rot, err = runRotation(ctx, w, p, set.storm, r.storm.versions, o.objects); err != nil {
		return nil, err
	}
	progress("  warm Mounts")
	if r.warm1, err = sequential(ctx, p, set.single[1], o.warmSamples); err != nil {
		return nil, err
	}
	if r.warm10, err = sequential(ctx, p, set.single[10], o.warmSamples); err != nil {
		return nil, err
	}
	if r.warmCPU, err = cpuPerMount(ctx, p, set.single[10], o.cpuSamples); err != nil {
		return nil, err
	}
	time.Sleep(o.settle)
	after, err := world.MemoryOf(p.PID())
	if err != nil {
		return nil, err
	}
	r.afterRSS = after.RSS
	if err := stop(); err != nil {
		return nil, fmt.Errorf("stopping the provider: %w", err)
	}
	if set.multi != nil {
		progress("  storm of %d identities", o.identities)
		if r.multi, r.multiRot, err = multiStorm(ctx, w, cfg, o, set.multi); err != nil {
			return nil, err
		}
	}
	progress("  cold Mounts")
	if r.cold1, err = cold(ctx, w, cfg.flags, set.single[1], o.coldSamples, &r.startUps, nil); err != nil {
		return nil, err
	}
	r.cold10, err = cold(ctx, w, cfg.flags, set.single[10], o.coldSamples, &r.startUps, &r.coldPath)
	return r, err
}

// multiStorm runs a storm and its rotation poll for pods of several
// identities on a fresh provider.
func multiStorm(ctx context.Context, w *world.World, cfg config, o options, vols []*driver.Volume) (*storm, *rotation, error) {
	p, err := startProvider(w, cfg.flags...)
	if err != nil {
		return nil, nil, err
	}
	defer p.Stop()
	s, err := runStorm(ctx, w, p, vols)
	if err != nil {
		return nil, nil, err
	}
	s.identities = o.identities
	time.Sleep(cfg.pollAfter)
	rot, err := runRotation(ctx, w, p, vols, s.versions, o.identities*o.objects)
	return s, rot, err
}

// startProvider starts the provider for a measurement. The world's kubelet
// stand-in lists every pod the bench prepared (2000); the provider reads
// that list at the chart's default interval, not at the tests' 500 ms.
func startProvider(w *world.World, flags ...string) (*world.Provider, error) {
	return w.StartProvider(append([]string{"--pod-list-interval=10s"}, flags...)...)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func numCPU() int       { return runtime.NumCPU() }
func goVersion() string { return runtime.Version() }
