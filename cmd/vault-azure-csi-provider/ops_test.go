package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/server"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOpsServersRoutePathsByAddress(t *testing.T) {
	metricsBody := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metric 1\n") })
	ready := func(context.Context) error { return nil }
	tests := []struct {
		name            string
		health, metrics string
		served, absent  []string
	}{
		{"only health", "127.0.0.1:0", "", []string{"/healthz", "/readyz"}, []string{"/metrics"}},
		{"only metrics", "", "127.0.0.1:0", []string{"/metrics"}, []string{"/healthz", "/readyz"}},
		{"one address for both", "127.0.0.1:0", "127.0.0.1:0", []string{"/healthz", "/readyz", "/metrics"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := startOps(tc.health, tc.metrics, metricsBody, ready)
			if err != nil {
				t.Fatal(err)
			}
			defer o.stop(context.Background())
			if len(o.addrs) != 1 {
				t.Fatalf("servers on %v, want one", o.addrs)
			}
			for _, p := range tc.served {
				if code, _ := httpGet(t, "http://"+o.addrs[0]+p); code != http.StatusOK {
					t.Errorf("%s = %d, want 200", p, code)
				}
			}
			for _, p := range tc.absent {
				if code, _ := httpGet(t, "http://"+o.addrs[0]+p); code != http.StatusNotFound {
					t.Errorf("%s = %d, want 404", p, code)
				}
			}
		})
	}
	o, err := startOps("", "", metricsBody, ready)
	if err != nil || len(o.addrs) != 0 {
		t.Errorf("no addresses: servers %v, err %v; want none", o.addrs, err)
	}
}

func TestHealthzAndReadyz(t *testing.T) {
	var readyErr error
	o, err := startOps("127.0.0.1:0", "127.0.0.1:0", http.NotFoundHandler(), func(context.Context) error { return readyErr })
	if err != nil {
		t.Fatal(err)
	}
	defer o.stop(context.Background())
	base := "http://" + o.addrs[0]
	if len(o.addrs) != 1 {
		t.Fatalf("equal addresses must share one server, got %v", o.addrs)
	}
	if code, body := httpGet(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz while ready = %d %q", code, body)
	}
	readyErr = errors.New("socket reports NOT_SERVING")
	if code, body := httpGet(t, base+"/readyz"); code != 503 || !strings.Contains(body, "NOT_SERVING") {
		t.Errorf("/readyz while not ready = %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz must not depend on readiness: %d", code)
	}
}

func TestStartOpsFailsOnABusyAddress(t *testing.T) {
	o, err := startOps("127.0.0.1:0", "", http.NotFoundHandler(), func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer o.stop(context.Background())
	if _, err := startOps(o.addrs[0], "", http.NotFoundHandler(), nil); err == nil || !strings.Contains(err.Error(), "/healthz") {
		t.Errorf("binding a busy address: err = %v, want one naming the paths", err)
	}
}

type noMounts struct{}

func (noMounts) Mount(context.Context, string, string, string) (*provider.Result, error) {
	return nil, errors.New("not used")
}

// TestSocketProbeFollowsTheGRPCServer: not ready before Serve, ready while
// serving, not ready once shutdown began.
func TestSocketProbeFollowsTheGRPCServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "p.sock")
	probe, err := newSocketProbe(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.close()
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return probe.check(ctx)
	}
	if err := check(); err == nil {
		t.Fatal("ready before the socket exists")
	}
	l, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.New(noMounts{}, "test").Serve(ctx, l, time.Second) }()
	deadline := time.Now().Add(5 * time.Second)
	for check() != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := check(); err != nil {
		t.Fatalf("not ready while serving: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := check(); err == nil {
		t.Error("still ready after the server stopped")
	}
	if _, err := os.Stat(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}
