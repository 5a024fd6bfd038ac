package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/observe/observetest"
	"github.com/vaultazure/vault-azure-csi-provider/auth/share"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
)

// gatedVault serves KV v2 at secret/, a leased dynamic GET at
// database/creds/app and an issue endpoint at pki/issue/web. Reads can be
// held at a gate, and it records the largest number of requests it served at
// once.
type gatedVault struct {
	srv      *httptest.Server
	gate     chan struct{} // nil: no gate; else reads of secret/ and database/ wait for it to close
	mu       sync.Mutex
	counts   map[string]int // "METHOD path" → requests
	serial   int
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	hold     time.Duration
	missing  string // GETs under this path prefix answer 404
}

func newGatedVault(t *testing.T, gated bool) *gatedVault {
	gv := &gatedVault{counts: map[string]int{}}
	if gated {
		gv.gate = make(chan struct{})
	}
	gv.srv = httptest.NewServer(http.HandlerFunc(gv.serve))
	t.Cleanup(gv.srv.Close)
	return gv
}

func (gv *gatedVault) serve(w http.ResponseWriter, r *http.Request) {
	n := gv.inFlight.Add(1)
	defer gv.inFlight.Add(-1)
	for m := gv.maxSeen.Load(); n > m && !gv.maxSeen.CompareAndSwap(m, n); m = gv.maxSeen.Load() {
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	gv.mu.Lock()
	gv.counts[r.Method+" "+path]++
	gv.serial++
	serial := gv.serial
	gv.mu.Unlock()
	if strings.HasPrefix(path, "sys/internal/ui/mounts/") && !strings.HasPrefix(path, "sys/internal/ui/mounts/secret/") {
		writeJSON(w, 200, map[string]any{"data": map[string]any{"path": strings.Split(strings.TrimPrefix(path, "sys/internal/ui/mounts/"), "/")[0] + "/", "type": "other"}})
		return
	}
	if strings.HasPrefix(path, "sys/internal/ui/mounts/") {
		writeJSON(w, 200, map[string]any{"data": map[string]any{"path": "secret/", "type": "kv", "options": map[string]any{"version": "2"}}})
		return
	}
	if gv.gate != nil && r.Method == http.MethodGet {
		select {
		case <-gv.gate:
		case <-r.Context().Done():
			return
		}
	}
	time.Sleep(gv.hold)
	tok := r.Header.Get("X-Vault-Token")
	switch {
	case gv.missing != "" && strings.HasPrefix(path, gv.missing):
		writeJSON(w, 404, map[string]any{"errors": []string{}})
	case strings.HasPrefix(path, "secret/data/"):
		name := strings.TrimPrefix(path, "secret/data/")
		writeJSON(w, 200, map[string]any{"data": map[string]any{"data": map[string]any{"value": name + "@" + tok}}})
	case path == "database/creds/app":
		writeJSON(w, 200, map[string]any{"lease_id": fmt.Sprintf("database/creds/app/%d", serial), "lease_duration": 3600, "renewable": true,
			"data": map[string]any{"username": fmt.Sprintf("v-app-%d", serial)}})
	case path == "sys/leases/renew" && r.Method == http.MethodPut:
		var body struct {
			LeaseID string `json:"lease_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		writeJSON(w, 200, map[string]any{"lease_id": body.LeaseID, "lease_duration": 3600, "renewable": true})
	case path == "pki/issue/web":
		// As Vault's pki engine by default: a new certificate, no lease.
		writeJSON(w, 200, map[string]any{"data": map[string]any{"certificate": testCertificate(serial, time.Hour)}})
	default:
		writeJSON(w, 404, map[string]any{"errors": []string{}})
	}
}

// countPrefix counts the requests whose "METHOD path" starts with prefix.
func (gv *gatedVault) countPrefix(prefix string) int {
	gv.mu.Lock()
	defer gv.mu.Unlock()
	n := 0
	for k, c := range gv.counts {
		if strings.HasPrefix(k, prefix) {
			n += c
		}
	}
	return n
}

func (gv *gatedVault) count(methodPath string) int {
	gv.mu.Lock()
	defer gv.mu.Unlock()
	return gv.counts[methodPath]
}

// podAuth hands out one token per pod name: pods are distinct identities.
type podAuth struct{}

func (podAuth) Token(_ context.Context, _ *vault.Client, req *auth.Request) (*auth.Lease, error) {
	return &auth.Lease{Token: "tok-" + req.Pod.Name}, nil
}
func (podAuth) Refused(context.Context, *auth.Lease, string) bool { return false }

func (podAuth) Methods() auth.Methods { return testMethods }

const cacheObjects = `
- {objectName: a, secretPath: secret/a, secretKey: value}
- {objectName: b, secretPath: secret/b, secretKey: value}
- {objectName: cert, secretPath: pki/issue/web, method: POST, secretArgs: {common_name: x}, secretKey: certificate}
`

func TestMountSecretCache(t *testing.T) {
	tests := []struct {
		name      string
		ttl       time.Duration
		pods      []string // one mount per entry, in order
		wantReads int      // GETs of secret/data/a
		wantHits  int
		wantMiss  int
	}{
		{"cached across mounts of one identity", time.Minute, []string{"web-0", "web-0", "web-0"}, 1, 4, 2},
		{"not shared between identities", time.Minute, []string{"web-0", "web-1", "web-0", "web-1"}, 2, 4, 4},
		{"TTL 0 reads every time", 0, []string{"web-0", "web-0", "web-0"}, 3, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gv := newGatedVault(t, false)
			lookups := &observetest.Recorder{}
			p := newProvider(t, Config{SecretCacheTTL: tc.ttl, Observer: lookups}, podAuth{})
			certs, pods := map[string]bool{}, map[string]bool{}
			for i, pod := range tc.pods {
				pods[pod] = true
				attrs := attributes(t, gv.srv.URL, cacheObjects, map[string]string{"csi.storage.k8s.io/pod.name": pod, "csi.storage.k8s.io/pod.uid": "uid-" + pod})
				res, err := p.Mount(context.Background(), attrs, "/t", "420")
				if err != nil {
					t.Fatalf("mount %d: %v", i, err)
				}
				if got, want := string(res.Files[0].Contents), "a@tok-"+pod; got != want {
					t.Errorf("mount %d of %s got %q, want %q: a response crossed identities", i, pod, got, want)
				}
				certs[string(res.Files[2].Contents)] = true
			}
			if got := gv.count("GET secret/data/a"); got != tc.wantReads {
				t.Errorf("GET secret/data/a: %d, want %d", got, tc.wantReads)
			}
			// POSTs never go through the secret cache: each pod gets a
			// certificate of its own, which it keeps (provider/dynamic).
			if got := gv.count("PUT pki/issue/web") + gv.count("POST pki/issue/web"); got != len(pods) || len(certs) != len(pods) {
				t.Errorf("issue requests %d, distinct certificates %d; want %d each (one per pod)", got, len(certs), len(pods))
			}
			if hits, misses := lookups.Count("cache secret hit"), lookups.Count("cache secret miss"); hits != tc.wantHits || misses != tc.wantMiss {
				t.Errorf("cache hits %d misses %d, want %d and %d", hits, misses, tc.wantHits, tc.wantMiss)
			}
		})
	}
}

// mountConcurrently starts n Mounts of objects by n pods of one Deployment
// (one service account, each pod its own name and UID), waits until ready
// says they all wait on Vault, then opens the gate and returns the results.
func mountConcurrently(t *testing.T, p *Provider, gv *gatedVault, objects string, n int, ready func() bool) []*Result {
	t.Helper()
	attrs := make([]string, n)
	for i := range n {
		attrs[i] = attributes(t, gv.srv.URL, objects, map[string]string{
			params.AttrPodUID: fmt.Sprintf("uid-%d", i), params.AttrPodName: fmt.Sprintf("web-%d", i)})
	}
	type out struct {
		res *Result
		err error
	}
	outs := make(chan out, n)
	for i := range n {
		go func() {
			res, err := p.Mount(context.Background(), attrs[i], "/t", "420")
			outs <- out{res, err}
		}()
	}
	waitFor(t, "all mounts to wait on Vault", ready)
	close(gv.gate)
	var results []*Result
	for range n {
		o := <-outs
		if o.err != nil {
			t.Fatalf("mount: %v", o.err)
		}
		results = append(results, o.res)
	}
	return results
}

func TestMountCoalescesConcurrentGETs(t *testing.T) {
	const n = 12
	gv := newGatedVault(t, true)
	p := newProvider(t, Config{}, &fakeAuth{}) // no secret cache: coalescing alone
	results := mountConcurrently(t, p, gv, "- {objectName: a, secretPath: secret/a, secretKey: value}\n", n, func() bool {
		return p.flights.inFlight() == 1 && totalWaiters(p.flights) == n
	})
	if got := gv.count("GET secret/data/a"); got != 1 {
		t.Errorf("%d concurrent mounts made %d reads, want 1", n, got)
	}
	for _, r := range results {
		if string(r.Files[0].Contents) != "a@login-1" {
			t.Errorf("content %q", r.Files[0].Contents)
		}
	}
	// Coalescing is not caching: the next mount reads again.
	if _, err := p.Mount(context.Background(), attributes(t, gv.srv.URL, "- {objectName: a, secretPath: secret/a, secretKey: value}\n", nil), "/t", "420"); err != nil {
		t.Fatal(err)
	}
	if got := gv.count("GET secret/data/a"); got != 2 {
		t.Errorf("reads after one more mount: %d, want 2", got)
	}
}

func TestMountNeverSharesDynamicSecrets(t *testing.T) {
	const n = 6
	objects := "- {objectName: user, secretPath: database/creds/app, secretKey: username}\n" +
		"- {objectName: cert, secretPath: pki/issue/web, method: POST, secretKey: certificate}\n"
	gv := newGatedVault(t, true)
	p := newProvider(t, Config{SecretCacheTTL: time.Minute}, &fakeAuth{})
	results := mountConcurrently(t, p, gv, objects, n, func() bool {
		return totalWaiters(p.flights) == n && gv.count("POST pki/issue/web")+gv.count("PUT pki/issue/web") == n
	})
	users, certs := map[string]bool{}, map[string]bool{}
	for _, r := range results {
		users[string(r.Files[0].Contents)] = true
		certs[string(r.Files[1].Contents)] = true
	}
	if len(users) != n || len(certs) != n {
		t.Errorf("%d mounts got %d distinct database users and %d distinct certificates; want %d each", n, len(users), len(certs), n)
	}
	if p.cache.len() != 0 {
		t.Errorf("the cache kept %d leased responses", p.cache.len())
	}
}

func TestMountBoundsConcurrentVaultReads(t *testing.T) {
	tests := []struct {
		name                  string
		objectConc, vaultConc int
		mounts                int // each its own identity: nothing is shared
		wantMax               int32
	}{
		{"provider-wide bound across mounts", 16, 3, 4, 3},
		{"one mount's bound", 2, 32, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var objs strings.Builder
			for i := range 16 {
				fmt.Fprintf(&objs, "- {objectName: o%d, secretPath: secret/s%d, secretKey: value}\n", i, i)
			}
			gv := newGatedVault(t, false)
			gv.hold = 5 * time.Millisecond
			n := tc.vaultConc
			p := newProvider(t, Config{ObjectConcurrency: tc.objectConc, Shares: share.New(share.Limits{Total: n, PerAddress: n, PerNamespace: n})}, podAuth{})
			var wg sync.WaitGroup
			for i := range tc.mounts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					attrs := attributes(t, gv.srv.URL, objs.String(), map[string]string{"csi.storage.k8s.io/pod.name": fmt.Sprint("web-", i)})
					if _, err := p.Mount(context.Background(), attrs, "/t", "420"); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if got := gv.maxSeen.Load(); got > tc.wantMax || got < 2 {
				t.Errorf("Vault saw up to %d requests at once, want 2..%d", got, tc.wantMax)
			}
			if p.shares.InUse() != 0 {
				t.Errorf("%d provider slots still taken", p.shares.InUse())
			}
		})
	}
}

func TestMountReportsTheFailingRead(t *testing.T) {
	tests := []struct {
		name     string
		objects  string
		wantPath string
	}{
		{"a missing GET among GETs and a POST", cacheObjects + "- {objectName: x, secretPath: secret/missing/x, secretKey: value}\n", "secret/missing/x"},
		{"a missing POST among GETs", cacheObjects + "- {objectName: y, secretPath: pki/issue/nope, method: POST, secretKey: certificate}\n", "pki/issue/nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gv := newGatedVault(t, false)
			gv.missing = "secret/data/missing/"
			p := newProvider(t, Config{SecretCacheTTL: time.Minute}, podAuth{})
			for range 20 {
				_, err := p.Mount(context.Background(), attributes(t, gv.srv.URL, tc.objects, nil), "/t", "420")
				var se *secrets.Error
				if !errors.As(err, &se) || se.Status != http.StatusNotFound || !strings.HasPrefix(strings.Replace(se.Path, "data/", "", 1), tc.wantPath) {
					t.Fatalf("got %v, want the 404 of %s", err, tc.wantPath)
				}
			}
			// Reads the failed mounts left behind end or are cancelled.
			waitFor(t, "no flights and no slots taken", func() bool { return p.flights.inFlight() == 0 && p.shares.InUse() == 0 })
		})
	}
}

func totalWaiters(g *flightGroup) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, f := range g.flights {
		n += f.waiters
	}
	return n
}

// TestMountKeepsEachPodsDynamicSecrets: a pod's later Mounts get the
// database user and certificate it got first, with the same versions and
// no Vault call; another pod gets its own; reuse: false asks every time.
func TestMountKeepsEachPodsDynamicSecrets(t *testing.T) {
	objects := "- {objectName: user, secretPath: database/creds/app, secretKey: username}\n" +
		"- {objectName: cert, secretPath: pki/issue/web, method: POST, secretKey: certificate}\n"
	gv := newGatedVault(t, false)
	p := newProvider(t, Config{SecretCacheTTL: time.Minute}, &fakeAuth{})
	mount := func(uid, objects string) *Result {
		t.Helper()
		// Pods of one node have distinct names (a later pod of an earlier
		// one's name replaces it: see dynamic.Store).
		res, err := p.Mount(context.Background(), attributes(t, gv.srv.URL, objects, map[string]string{params.AttrPodUID: uid, params.AttrPodName: "web-" + uid}), "/t", "420")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := mount("uid-a", objects)
	again := mount("uid-a", objects)
	for i := range first.Files {
		if string(again.Files[i].Contents) != string(first.Files[i].Contents) || again.Versions[i] != first.Versions[i] {
			t.Errorf("%s changed between two Mounts of one pod", first.Files[i].Path)
		}
	}
	if n := gv.count("GET database/creds/app") + gv.count("POST pki/issue/web"); n != 2 {
		t.Errorf("two Mounts of one pod made %d dynamic requests, want 2", n)
	}
	other := mount("uid-b", objects)
	for i := range first.Files {
		if string(other.Files[i].Contents) == string(first.Files[i].Contents) {
			t.Errorf("%s shared between two pods", first.Files[i].Path)
		}
	}
	fresh := strings.ReplaceAll(objects, "secretKey: username}", "secretKey: username, reuse: false}")
	u1 := mount("uid-c", fresh)
	u2 := mount("uid-c", fresh)
	if string(u1.Files[0].Contents) == string(u2.Files[0].Contents) {
		t.Error("reuse: false got the same database user twice")
	}
	if string(u1.Files[1].Contents) != string(u2.Files[1].Contents) {
		t.Error("the certificate (reuse not turned off) changed between two Mounts")
	}
	// Leases kept: the database users of uid-a and uid-b (uid-c's is not
	// kept, and certificates hold no lease).
	if n := p.DynamicLeases(); n != 2 {
		t.Errorf("%d leases kept, want 2", n)
	}
}

// testCertificate is a self-signed certificate with serial, valid for ttl.
func testCertificate(serial int, ttl time.Duration) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(serial)), Subject: pkix.Name{CommonName: "web.example.com"},
		NotBefore: now.Add(-30 * time.Second), NotAfter: now.Add(ttl)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
