package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// rssBoundMiB is the stated bound on the provider's memory while a
// namespace user's classes name 10,000 distinct Vault addresses.
const rssBoundMiB = 48

// procMemory returns VmRSS and VmHWM (peak) of pid in bytes.
func procMemory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	m, err := world.MemoryOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	return m.RSS, m.Peak
}

// closedPort returns a loopback port on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// mountMany sends n Mounts of classes made by params(i) for the web pod,
// 8 at a time over one connection, and returns the gRPC codes they got.
func mountMany(t *testing.T, p *world.Provider, n int, params func(i int) map[string]string) map[codes.Code]int {
	t.Helper()
	base, err := theWorld.Volume(world.SPC("many", withDefaults(nil)), world.WebPod)
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.Dial(p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var next atomic.Int64
	var mu sync.Mutex
	got := map[codes.Code]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				v := *base
				v.SPC = world.SPC("many", params(i))
				req, err := v.Request(nil)
				if err != nil {
					t.Error(err)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, _, err = c.Send(ctx, req)
				cancel()
				mu.Lock()
				got[status.Code(err)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return got
}

// TestCachesStayBoundedUnderDistinctAddresses: 10,000 Mounts whose classes
// name distinct Vault addresses (nothing listens there) keep the pool of
// Vault clients at its default size and the provider's memory under
// rssBoundMiB; the provider still serves.
func TestCachesStayBoundedUnderDistinctAddresses(t *testing.T) {
	const n = 10000
	port := closedPort(t)
	p := startProvider(t, "--vault-max-retries=0", "--health-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0")
	start := time.Now()
	got := mountMany(t, p, n, func(i int) map[string]string {
		return withDefaults(map[string]string{
			"vaultAuthMethod": "kubernetes", "audience": world.AudienceVault,
			"vaultAddress": fmt.Sprintf("https://127.%d.%d.%d:%d", 1+i/65536, (i/256)%256, i%256, port),
		})
	})
	rss, peak := procMemory(t, p.PID())
	t.Logf("%d mounts with distinct vaultAddress in %s: codes %v; provider RSS %.1f MiB, peak %.1f MiB", n, time.Since(start).Round(time.Millisecond), got, mib(rss), mib(peak))
	if got[codes.Unavailable] != n {
		t.Errorf("codes %v, want %d Unavailable (nothing listens at those addresses)", got, n)
	}
	m := scrape(t, "http://"+opsAddr(t, p))
	if c := sum(m, "vault_azure_csi_provider_cache_entries", "cache", "vault_client"); c != 64 {
		t.Errorf("the Vault client pool holds %v clients, want its default size 64", c)
	}
	if mib(peak) > rssBoundMiB {
		t.Errorf("peak RSS %.1f MiB, over the bound of %d MiB", mib(peak), rssBoundMiB)
	}
	mountDB(t, p, nil)
}

// TestTokenCacheStaysBoundedUnderDistinctIdentities: Mounts of 1,000
// distinct service accounts (a role that accepts any of them) keep at most
// --token-cache-size Vault tokens.
func TestTokenCacheStaysBoundedUnderDistinctIdentities(t *testing.T) {
	const n, size = 1000, 100
	writeVault(t, "auth/jwt/role/any-sa", map[string]any{
		"role_type": "jwt", "bound_audiences": "vault", "user_claim": "sub",
		"token_policies": "shop-web", "token_ttl": "1h",
	})
	p := startProvider(t, "--token-cache-size="+strconv.Itoa(size), "--health-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0")
	spc := world.SPC("any-sa", withDefaults(map[string]string{"roleName": "any-sa", "vaultAuthMethod": "jwt", "audience": world.AudienceVault}))
	before := theWorld.Vault.Stats().Logins
	for i := range n {
		pod := world.Pod{Name: fmt.Sprintf("job-%d", i), Namespace: "batch", UID: fmt.Sprintf("uid-%d", i), ServiceAccount: fmt.Sprintf("sa-%d", i)}
		if _, _, err := mount(t, p, spc, pod, nil); err != nil {
			t.Fatalf("mount %d: %v", i, err)
		}
	}
	rss, peak := procMemory(t, p.PID())
	m := scrape(t, "http://"+opsAddr(t, p))
	tokens := sum(m, "vault_azure_csi_provider_cache_entries", "cache", "vault_token")
	t.Logf("%d identities: %d logins, %v cached tokens; RSS %.1f MiB, peak %.1f MiB", n, theWorld.Vault.Stats().Logins-before, tokens, mib(rss), mib(peak))
	if tokens != size {
		t.Errorf("%v tokens cached, want the bound %d", tokens, size)
	}
}

// startProvider starts a provider without the secret cache that must exit
// cleanly when the test ends (startLogged also searches its logs).
func startProvider(t *testing.T, flags ...string) *world.Provider {
	t.Helper()
	p, err := theWorld.StartProvider(append([]string{"--secret-cache-ttl=0"}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("provider did not exit cleanly: %v", err)
		}
	})
	return p
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
