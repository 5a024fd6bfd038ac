package perf_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
	"github.com/vaultazure/vault-azure-csi-provider/provider/server"
	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/perf"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

var w *world.World

func TestMain(m *testing.M) {
	// The in-process provider's logs would drown the results.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	os.Exit(world.RunTests(m, func(wd *world.World) (func() error, error) {
		w = wd
		os.Setenv("SSL_CERT_FILE", w.CAFile)
		root, err := w.Root()
		if err != nil {
			return nil, err
		}
		for i := range 10 {
			if _, err := root.Logical().Write(fmt.Sprintf("secret/data/shop/perf-%d", i), map[string]any{"data": map[string]any{"value": fmt.Sprintf("v-%d", i)}}); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}))
}

func newServer(tb testing.TB, extra ...string) *setup.Wiring {
	fs := flag.NewFlagSet("perf", flag.ContinueOnError)
	o := setup.RegisterFlags(fs)
	if err := fs.Parse(append(w.ProviderArgs(tb.TempDir()+"/p.sock"), extra...)); err != nil {
		tb.Fatal(err)
	}
	wr, err := setup.New(o, metrics.New())
	if err != nil {
		tb.Fatal(err)
	}
	return wr
}

func volume(tb testing.TB, n int) *driver.Volume {
	var objs strings.Builder
	for i := range n {
		fmt.Fprintf(&objs, "- {objectName: secret-%d, secretPath: secret/shop/perf-%d, secretKey: value}\n", i, i)
	}
	spc := world.SPC("perf", map[string]string{"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "objects": objs.String()})
	v, err := w.VolumeAt(spc, world.WebPod, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func BenchmarkWarmMount10(b *testing.B) {
	wr := newServer(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wr.Provider.Start(ctx)
	srv := wr.Server("perf")
	req, err := volume(b, 10).Request(nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := srv.Mount(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := srv.Mount(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmMountGRPC10 is BenchmarkWarmMount10 through the gRPC server
// on a unix socket, as the driver calls it (the client's work is counted too).
func BenchmarkWarmMountGRPC10(b *testing.B) {
	wr := newServer(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wr.Provider.Start(ctx)
	sock := b.TempDir() + "/p.sock"
	l, err := server.Listen(sock)
	if err != nil {
		b.Fatal(err)
	}
	go wr.Server("perf").Serve(ctx, l, time.Second)
	c, err := driver.Dial(sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req, err := volume(b, 10).Request(nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.Send(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := c.Send(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdMount10 is a fresh provider's first Mount of 10 objects: the
// Entra exchange, the Vault login, the KV mount lookup and the reads (the
// world's Vault and Entra ID answer in this process: their allocations
// count too).
func BenchmarkColdMount10(b *testing.B) {
	req, err := volume(b, 10).Request(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		wr := newServer(b)
		srv := wr.Server("perf")
		b.StartTimer()
		if _, err := srv.Mount(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

var checkBudget = flag.Bool("budget", false, "check the allocations per Mount against budget.json (make bench)")

// TestAllocationBudget fails when a warm or a cold Mount allocates more
// than budget.json allows. Allocation counts do not depend on the machine's
// speed or load, so the check is exact where timings could not be; it runs
// with -budget (make bench), not under the race detector of make test,
// which changes them.
func TestAllocationBudget(t *testing.T) {
	if !*checkBudget {
		t.Skip("run with -budget (make bench)")
	}
	budget, err := perf.LoadBudget()
	if err != nil {
		t.Fatal(err)
	}
	for _, bm := range []struct {
		name  string
		fn    func(*testing.B)
		limit float64
	}{
		{"warm Mount of 10 objects", BenchmarkWarmMount10, budget.WarmMountAllocs},
		{"cold Mount of 10 objects", BenchmarkColdMount10, budget.ColdMountAllocs},
	} {
		r := testing.Benchmark(bm.fn)
		if r.N == 0 {
			t.Fatalf("%s: the benchmark failed", bm.name)
		}
		got := float64(r.MemAllocs) / float64(r.N)
		fmt.Printf("| %s | %.0f allocs (%.1f KiB) per Mount | budget %.0f | %s |\n", bm.name, got, float64(r.MemBytes)/float64(r.N)/1024, bm.limit, verdict(got <= bm.limit))
		if got > bm.limit {
			t.Errorf("%s: %.0f allocations per Mount, over the budget of %.0f (test/perf/budget.json)", bm.name, got, bm.limit)
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "✗ over budget"
}
