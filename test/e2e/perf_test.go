package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// perfObjects: two keys of one KV v2 secret, another KV v2 secret, a KV v1
// secret and a dynamic certificate (POST).
const perfObjects = `
- {objectName: db-password, secretPath: secret/shop/db, secretKey: password}
- {objectName: db-username, secretPath: secret/shop/db, secretKey: username}
- {objectName: api-key, secretPath: secret/shop/api, secretKey: key}
- {objectName: legacy-token, secretPath: kv/shop/legacy, secretKey: token}
- {objectName: tls.crt, secretPath: pki/issue/web, method: POST, secretArgs: {common_name: web.shop.example.com, ttl: 10m}, secretKey: certificate}
`

// perfReadPaths are the Vault paths the GET objects of perfObjects read.
var perfReadPaths = []string{"secret/data/shop/db", "secret/data/shop/api", "kv/shop/legacy"}

const perfIssuePath = "pki/issue/web"

// deploymentVolumes prepares n pods of one Deployment: the web pod's
// namespace and service account (one identity), distinct names and UIDs.
func deploymentVolumes(t *testing.T, n int) []*driver.Volume {
	t.Helper()
	spc := world.SPC("perf", map[string]string{"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "objects": perfObjects})
	vols := make([]*driver.Volume, n)
	for i := range vols {
		pod := world.WebPod
		pod.Name = fmt.Sprintf("web-perf-%03d", i)
		pod.UID = fmt.Sprintf("6a1d3c1e-0000-4000-8000-%012d", i)
		v, err := theWorld.Volume(spc, pod)
		if err != nil {
			t.Fatal(err)
		}
		vols[i] = v
	}
	return vols
}

// mountRound mounts every volume at once (current: the versions of the
// previous round, or nil) and returns each volume's versions and the
// certificate it got. Every mount must succeed.
func mountRound(t *testing.T, p *world.Provider, vols []*driver.Volume, current []map[string]string) ([]map[string]string, []string) {
	t.Helper()
	c, err := driver.Dial(p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	versions := make([]map[string]string, len(vols))
	errs := make([]error, len(vols))
	var wg sync.WaitGroup
	for i, v := range vols {
		var cur map[string]string
		if current != nil {
			cur = current[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			versions[i], errs[i] = c.Mount(ctx, v, cur)
		}()
	}
	wg.Wait()
	certs := make([]string, len(vols))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("mount of %s: %v", vols[i].Pod.Name, err)
		}
		b, err := os.ReadFile(vols[i].TargetPath + "/tls.crt")
		if err != nil {
			t.Fatal(err)
		}
		certs[i] = string(b)
	}
	return versions, certs
}

func resetCounters() {
	theWorld.Vault.ResetStats()
	theWorld.Azure.ResetCounts()
}

// assertRequests checks the Vault and Azure requests since resetCounters.
// reads is the wanted count per path of perfReadPaths (-1: at least one),
// issues the wanted count of certificate issues.
func assertRequests(t *testing.T, round string, logins, reads, issues, entra int64) {
	t.Helper()
	st := theWorld.Vault.Stats()
	if st.Logins != logins {
		t.Errorf("%s: %d Vault logins, want %d", round, st.Logins, logins)
	}
	for _, path := range perfReadPaths {
		if got := st.ByPath[path]; got != reads && (reads != -1 || got < 1) {
			t.Errorf("%s: %d reads of %s, want %d", round, got, path, reads)
		}
	}
	if got := st.ByPath[perfIssuePath]; got != issues {
		t.Errorf("%s: %d certificate issues, want %d (one per pod: never shared, kept by the pod)", round, got, issues)
	}
	if got := theWorld.Azure.Counts()[azureemu.KindEntraToken]; got != entra {
		t.Errorf("%s: %d Entra ID token requests, want %d", round, got, entra)
	}
}

func assertDistinct(t *testing.T, round string, certs ...[]string) {
	t.Helper()
	seen := map[string]bool{}
	n := 0
	for _, list := range certs {
		for _, c := range list {
			seen[c] = true
			n++
		}
	}
	if len(seen) != n {
		t.Errorf("%s: %d mounts got only %d distinct certificates: a dynamic secret was shared", round, n, len(seen))
	}
}

// TestPerfDeploymentStartAndPollShareLoginAndReads: 50 pods of one
// Deployment start at once on a fresh provider (1 login, 1 read per path,
// 1 Entra exchange, a certificate each), then every pod polls for rotation
// (no login, no read: the secret cache answers; no issue: each pod keeps
// its own certificate).
func TestPerfDeploymentStartAndPollShareLoginAndReads(t *testing.T) {
	const n = 50
	p, err := theWorld.StartProvider("--health-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	metricsURL := "http://" + opsAddr(t, p)
	vols := deploymentVolumes(t, n)
	resetCounters()
	first, firstCerts := mountRound(t, p, vols, nil)
	assertRequests(t, "start", 1, 1, n, 1)
	assertDistinct(t, "start", firstCerts)

	resetCounters()
	before := scrape(t, metricsURL)
	polled, pollCerts := mountRound(t, p, vols, first)
	assertRequests(t, "rotation poll", 0, 0, 0, 0)
	after := scrape(t, metricsURL)
	for _, c := range []struct {
		cache, result string
		want          float64
	}{
		{"secret", "hit", n * float64(len(perfReadPaths))}, {"secret", "miss", 0},
		{"vault_token", "hit", n}, {"vault_token", "miss", 0},
	} {
		const name = "vault_azure_csi_provider_cache_requests_total"
		if moved := sum(after, name, "cache", c.cache, "result", c.result) - sum(before, name, "cache", c.cache, "result", c.result); moved != c.want {
			t.Errorf("poll: cache_requests_total{cache=%q,result=%q} moved by %v, want %v", c.cache, c.result, moved, c.want)
		}
	}
	assertDistinct(t, "start", pollCerts)
	for i := range vols {
		if pollCerts[i] != firstCerts[i] {
			t.Errorf("%s: the poll got another certificate than the start", vols[i].Pod.Name)
		}
		for _, id := range []string{"db-password", "db-username", "api-key", "legacy-token", "tls.crt"} {
			if polled[i][id] != first[i][id] {
				t.Errorf("%s: version of %s changed without a change in Vault", vols[i].Pod.Name, id)
			}
		}
	}
}

// TestPerfWithoutSecretCachePollsReadButDoNotLogIn: with --secret-cache-ttl=0
// every poll reads Vault, but the cached token means no login and no Entra
// exchange.
func TestPerfWithoutSecretCachePollsReadButDoNotLogIn(t *testing.T) {
	const n = 20
	p, err := theWorld.StartProvider("--secret-cache-ttl=0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	vols := deploymentVolumes(t, n)
	resetCounters()
	first, _ := mountRound(t, p, vols, nil)
	// Concurrent identical reads share one Vault call, but without the cache
	// a mount that comes after a read has ended reads again: at least one.
	assertRequests(t, "start", 1, -1, n, 1)

	resetCounters()
	for i, v := range vols { // one after another: nothing to coalesce
		if _, err := mountVolume(t, p, v, first[i]); err != nil {
			t.Fatal(err)
		}
	}
	assertRequests(t, "sequential polls without secret cache", 0, n, 0, 0) // certificates are kept per pod
}

func TestPerfFlagsRefuseNegativeValues(t *testing.T) {
	for _, flag := range []string{"--secret-cache-ttl=-1s", "--vault-max-concurrency=-1"} {
		p, err := theWorld.StartProvider(flag)
		if err == nil {
			p.Stop()
			t.Errorf("the provider started with %s", flag)
		}
	}
}
