package vaultclient

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe/observetest"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// server answers the first len(statuses) requests with those statuses (and
// Retry-After: 1 on 429), then 200 with a KV v1 secret.
func server(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	n := &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		w.Header().Set("Content-Type", "application/json")
		if i < len(statuses) {
			if statuses[i] == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			w.WriteHeader(statuses[i])
			_, _ = w.Write([]byte(`{"errors":["injected"]}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"k":"v"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

func TestPoolClientsDoNotRetryOnTheirOwn(t *testing.T) {
	t.Setenv(vault.EnvVaultMaxRetries, "5") // must not bring vault/api's retries back
	for _, status := range []int{500, 502, 503, 429} {
		srv, n := server(t, status, status, status)
		c, err := NewPool(5*time.Second, nil).Get(srv.URL, params.TLS{})
		if err != nil {
			t.Fatal(err)
		}
		if c.MaxRetries() != 0 {
			t.Errorf("MaxRetries = %d, want 0", c.MaxRetries())
		}
		if _, err := c.Logical().Read("kv/x"); err == nil {
			t.Errorf("HTTP %d: read succeeded", status)
		}
		if got := n.Load(); got != 1 {
			t.Errorf("HTTP %d: server saw %d requests, want 1: retries belong to retry.Backoff", status, got)
		}
	}
}

func TestRequestKind(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{http.MethodPut, "/v1/auth/azure/login", "login"},
		{http.MethodPost, "/v1/auth/azure/prod/login", "login"},
		{http.MethodPut, "/v1/auth/token/renew-self", "renew"},
		{http.MethodPut, "/v1/auth/token/revoke-self", "revoke"},
		{http.MethodGet, "/v1/sys/internal/ui/mounts/secret/db", "mount_lookup"},
		{http.MethodGet, "/v1/secret/data/db", "read"},
		{http.MethodPost, "/v1/pki/issue/web", "write"},
		{http.MethodPut, "/v1/database/creds/app", "write"},
		{http.MethodDelete, "/v1/secret/data/db", "other"},
	}
	for _, tc := range tests {
		if got := requestKind(tc.method, tc.path); got != tc.want {
			t.Errorf("requestKind(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestPoolClientsReportRetryAfter(t *testing.T) {
	rec := &observetest.Recorder{}
	srv, n := server(t, http.StatusTooManyRequests)
	c, err := NewPool(5*time.Second, rec).Get(srv.URL, params.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b := retry.Backoff{Retries: 1, Base: time.Millisecond, Max: time.Millisecond}
	err = b.Do(context.Background(), func(err error) bool { return retry.VaultRetryable(context.Background(), err) }, func(ctx context.Context) error {
		_, err := c.Logical().ReadWithContext(ctx, "kv/x")
		return err
	})
	if err != nil {
		t.Fatalf("read after Retry-After: %v", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, want at least the 1s Vault asked for", d)
	}
	if want := []string{"read 429", "read 200"}; n.Load() != 2 || !slices.Equal(rec.Events("vault"), want) {
		t.Errorf("requests = %d, observed %q; want %q", n.Load(), rec.Events("vault"), want)
	}
}

// TestPoolIsBounded: distinct addresses (SecretProviderClasses choose them)
// keep at most the pool's size of clients; the least recently used goes
// first, and clients idle past the timeout are dropped.
func TestPoolIsBounded(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := NewPool(time.Second, nil, WithMaxClients(3), WithIdleTimeout(time.Minute))
	p.now = func() time.Time { return now }
	get := func(i int) *vault.Client {
		t.Helper()
		c, err := p.Get(fmt.Sprintf("https://127.0.0.%d:8200", i), params.TLS{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := get(1)
	for i := 2; i <= 100; i++ {
		get(i)
		if n := p.Len(); n > 3 {
			t.Fatalf("after %d addresses the pool holds %d clients, want at most 3", i, n)
		}
	}
	if get(100) != get(100) {
		t.Error("the same address got two clients")
	}
	if get(1) == first {
		t.Error("the least recently used client was not dropped")
	}
	now = now.Add(2 * time.Minute)
	get(7)
	if n := p.Len(); n != 1 {
		t.Errorf("after the idle timeout the pool holds %d clients, want only the one just used", n)
	}
}
