package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
	"github.com/vaultazure/vault-azure-csi-provider/provider/server"
	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

const stormMounts = 1000

// idleSlack allows for the provider's Vault client keeping more idle
// keep-alive connections after a storm than after one mount: at most
// GOMAXPROCS+1 (vault/api's pool), three goroutines each with both ends in
// this process. A leak per mount, per failure or per retry is far larger.
var idleSlack = 3 * (runtime.GOMAXPROCS(0) + 1)

// inProcessProvider serves, in this process, a provider built from the
// world's flags by the constructor serve.go uses, so the test can count its
// goroutines. stop ends it gracefully.
func inProcessProvider(t *testing.T) (socket string, stop func()) {
	t.Helper()
	dir, err := os.MkdirTemp(theWorld.Dir, "inproc-")
	if err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(dir, "vault-azure.sock")
	fs := flag.NewFlagSet("in-process provider", flag.ContinueOnError)
	o := setup.RegisterFlags(fs)
	if err := fs.Parse(theWorld.ProviderArgs(socket)); err != nil {
		t.Fatal(err)
	}
	w, err := setup.New(o, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	l, err := server.Listen(o.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.Provider.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Server("load-test").Serve(ctx, l, o.ShutdownGrace) }()
	return socket, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("in-process provider: %v", err)
		}
	}
}

// stormResult counts the outcomes of one storm.
type stormResult struct {
	ok, failed, partial int
	codes               map[codes.Code]int
}

// storm seeds one secret per mount under secret/shop/load/<phase>/, then runs
// every mount at once through c, each reading three keys of its own secret
// (one Vault read). It checks each mount against Vault's record of faulted
// reads: a mount fails exactly when its read failed more than tolerate
// times, and then writes nothing; otherwise it has all three files, right.
func storm(t *testing.T, c *driver.Client, phase string, tolerate int64, fault vaultfront.Fault) stormResult {
	t.Helper()
	seedLoadSecrets(t, phase)
	vols := make([]*driver.Volume, stormMounts)
	for i := range vols {
		pod := world.WebPod
		pod.Name, pod.UID = fmt.Sprintf("load-%s-%04d", phase, i), fmt.Sprintf("9c0d1e2f-0000-4000-8000-%012d", i)
		objects := fmt.Sprintf("- {objectName: u, secretPath: secret/shop/load/%[1]s/%[2]d, secretKey: u}\n"+
			"- {objectName: p, secretPath: secret/shop/load/%[1]s/%[2]d, secretKey: p}\n"+
			"- {objectName: c/conf, secretPath: secret/shop/load/%[1]s/%[2]d, secretKey: c}\n", phase, i)
		v, err := theWorld.Volume(world.SPC("load", withDefaults(map[string]string{"objects": objects})), pod)
		if err != nil {
			t.Fatal(err)
		}
		vols[i] = v
	}
	fault.PathPrefix = "secret/data/shop/load/" + phase + "/"
	theWorld.Vault.ResetStats()
	theWorld.Vault.InjectFault(fault)
	defer theWorld.Vault.ClearFaults()
	errs := make([]error, len(vols))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i, v := range vols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Mount(ctx, v, nil)
		}()
	}
	wg.Wait()
	return checkStorm(t, phase, vols, errs, tolerate)
}

func seedLoadSecrets(t *testing.T, phase string) {
	t.Helper()
	root, err := theWorld.Root()
	if err != nil {
		t.Fatal(err)
	}
	// Idle connections would count as goroutines.
	defer root.CloneConfig().HttpClient.CloseIdleConnections()
	var wg sync.WaitGroup
	errc := make(chan error, stormMounts)
	sem := make(chan struct{}, 16)
	for i := range stormMounts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			data := map[string]any{"u": fmt.Sprintf("user-%d", i), "p": fmt.Sprintf("pass-%d", i), "c": fmt.Sprintf("conf-%d", i)}
			if _, err := root.Logical().Write(fmt.Sprintf("secret/data/shop/load/%s/%d", phase, i), map[string]any{"data": data}); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		t.Fatalf("seeding: %v", err)
	}
}

func checkStorm(t *testing.T, phase string, vols []*driver.Volume, errs []error, tolerate int64) stormResult {
	t.Helper()
	faulted := theWorld.Vault.Stats().FaultedByPath
	res := stormResult{codes: map[codes.Code]int{}}
	for i, v := range vols {
		path := fmt.Sprintf("secret/data/shop/load/%s/%d", phase, i)
		files := visibleFiles(t, v.TargetPath)
		shouldFail := faulted[path] > tolerate
		switch err := errs[i]; {
		case err != nil:
			res.failed++
			res.codes[status.Code(err)]++
			if len(files) != 0 {
				res.partial++
				t.Errorf("mount %d failed (%v) but wrote %v", i, err, files)
			}
			if !shouldFail {
				t.Errorf("mount %d failed though its read was faulted %d times (tolerated: %d): %v", i, faulted[path], tolerate, err)
			}
		default:
			res.ok++
			want := map[string]string{"u": fmt.Sprintf("user-%d", i), "p": fmt.Sprintf("pass-%d", i), "c/conf": fmt.Sprintf("conf-%d", i)}
			if !sameFiles(t, v.TargetPath, files, want) {
				res.partial++
			}
			if shouldFail {
				t.Errorf("mount %d succeeded though its read was faulted %d times", i, faulted[path])
			}
		}
	}
	return res
}

// visibleFiles lists the files a pod sees in a mount (the driver's atomic
// writer also keeps ..data and a timestamped directory).
func visibleFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		if e.Name() == "c" {
			out = append(out, "c/conf")
			continue
		}
		out = append(out, e.Name())
	}
	return out
}

func sameFiles(t *testing.T, dir string, files []string, want map[string]string) bool {
	t.Helper()
	if len(files) != len(want) {
		t.Errorf("%s: files %v, want %d", dir, files, len(want))
		return false
	}
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != content {
			t.Errorf("%s/%s = %q, %v; want %q", dir, name, b, err, content)
			return false
		}
	}
	return true
}

// settledGoroutines waits (at most 10s) for the goroutine count to drop to
// limit and returns it.
func settledGoroutines(limit int) int {
	deadline := time.Now().Add(10 * time.Second)
	n := runtime.NumGoroutine()
	for n > limit && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestLoadStormWithVaultFaults runs 1000 concurrent Mounts on an in-process
// provider twice: with 10% of the reads refused for good (HTTP 400), and
// with 10% answered 503 (retried). Every mount is either whole or failed
// without files, exactly as Vault's record of faults predicts, and the
// provider holds no more goroutines after the storms than before.
func TestLoadStormWithVaultFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	klog.SetLogger(logr.Discard()) // 100 expected failures would flood the test log
	defer klog.ClearLogger()
	socket, stop := inProcessProvider(t)
	c, err := driver.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	warm := world.SPC("warm", withDefaults(nil))
	if v, err := theWorld.Volume(warm, world.WebPod); err != nil {
		t.Fatal(err)
	} else if _, err := c.Mount(context.Background(), v, nil); err != nil {
		t.Fatalf("warm-up mount: %v", err)
	}
	before := settledGoroutines(0)
	start := time.Now()
	refused := storm(t, c, "a", 0, vaultfront.Fault{Status: 400, Every: 10})
	t.Logf("storm a (10%% of reads refused, HTTP 400): %d whole, %d failed %v, %d partial", refused.ok, refused.failed, refused.codes, refused.partial)
	if refused.ok != 900 || refused.failed != 100 || refused.codes[codes.InvalidArgument] != 100 {
		t.Errorf("storm a: %d whole, %d failed %v; want 900 whole and 100 InvalidArgument", refused.ok, refused.failed, refused.codes)
	}
	retried := storm(t, c, "b", int64(retry.Default.Retries), vaultfront.Fault{Status: 503, Every: 10})
	t.Logf("storm b (10%% of reads 503, retried): %d whole, %d failed %v, %d partial", retried.ok, retried.failed, retried.codes, retried.partial)
	if retried.ok < stormMounts-10 {
		t.Errorf("storm b: only %d of %d mounts survived 10%% transient faults", retried.ok, stormMounts)
	}
	t.Logf("2 storms of %d mounts in %v", stormMounts, time.Since(start))
	after := settledGoroutines(before + idleSlack)
	t.Logf("goroutines: %d before the storms, %d after", before, after)
	if after > before+idleSlack {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("goroutines: %d before the storms, %d after: a leak\n%s", before, after, b.String())
	}
	c.Close()
	stop()
}
