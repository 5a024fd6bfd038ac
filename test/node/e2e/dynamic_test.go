package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/harness"
)

// dynamicTenant gives scenario s a PostgreSQL role of the world's database
// engine (real logins, VALID UNTIL the lease's end) with lease ttl/maxTTL,
// and an azure role whose tokens live tokenTTL, renewable to tokenMaxTTL.
func dynamicTenant(s *scenario, ttl, maxTTL, tokenTTL, tokenMaxTTL string) {
	s.t.Helper()
	s.vaultWrite("database/roles/"+s.ns, map[string]any{"db_name": "pg", "default_ttl": ttl, "max_ttl": maxTTL,
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`}})
	s.vaultWrite("sys/policies/acl/"+s.ns, map[string]any{"policy": fmt.Sprintf(`
path "secret/data/%[1]s/*" { capabilities = ["read"] }
path "database/creds/%[1]s" { capabilities = ["read"] }
path "sys/leases/revoke/database/creds/%[1]s/*" { capabilities = ["update"] }
`, s.ns)})
	s.vaultWrite("auth/azure/role/"+s.ns, map[string]any{"bound_service_principal_ids": s.identity.ObjectID,
		"token_policies": s.ns, "token_ttl": tokenTTL, "token_max_ttl": tokenMaxTTL})
}

// dbObjects are a pod's database credential and a KV secret.
func (s *scenario) dbObjects() []object {
	return []object{
		{Name: "db-username", Path: "database/creds/" + s.ns, Key: "username"},
		{Name: "db-password", Path: "database/creds/" + s.ns, Key: "password"},
		{Name: "plain", Path: "secret/data/" + s.ns + "/plain", Key: "v"},
	}
}

// A pod's database credential is kept across the kubelet's re-publishes:
// one issue in Vault, the same file, no rewrite by the driver — while a KV
// object of the same class is read again at every re-publish.
func TestDynamicCredentialKeptAcrossRepublish(t *testing.T) {
	s := newScenario(t, "t-dynamic", "web")
	dynamicTenant(s, "1h", "24h", "1h", "24h")
	s.putSecret("plain", map[string]any{"v": randomValue("plain")})
	s.spc("db", s.workloadParams(), s.dbObjects())
	s.startPod(appPod{name: "web", spc: "db", files: []string{"db-username", "db-password", "plain"}})
	pod := s.running("web")
	user := s.waitOutput(pod, "db-username", 30*time.Second, func(l line) bool { return l.File == "/mnt/secrets/db-username" && l.Content != "" }).Content

	dir := node.VolumeDir(pod, "secrets")
	link, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	status := func() map[string]string {
		st, err := node.Dynamic.Resource(spcpsGVR).Namespace(s.ns).Get(s.ctx, "web-t-dynamic-db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return statusObjects(st.Object)
	}
	before := status()

	s.waitRepublishes("secret/data/t-dynamic/plain", 2) // the KV object is read again at each re-publish
	st, err := node.World.Stats(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.ByPath["database/creds/t-dynamic"]; n != 1 {
		t.Errorf("Vault issued %d database credentials for one pod over 3 Mounts, want 1", n)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "db-username")); err != nil || string(got) != user {
		t.Errorf("node file db-username = %q, %v; want the first credential %q", got, err, user)
	}
	if now, _ := os.Readlink(filepath.Join(dir, "..data")); now != link {
		t.Errorf("the driver rewrote the files (..data %s -> %s)", link, now)
	}
	if after := status(); !equalMaps(after, before) {
		t.Errorf("object versions changed: %v -> %v", before, after)
	}
}

// TestDynamicCredentialLivesAsLongAsItsPod: with the driver's rotation off
// (its default: one Mount per pod) and with rotation at an interval longer
// than every TTL involved, a pod's PostgreSQL credential keeps working —
// the app logs in with the files it got — for longer than its lease's TTL
// (10 s), its Vault token's TTL (12 s) and the fallback idle period
// (--dynamic-idle-revoke=10s), with no Mount meanwhile; and PostgreSQL
// refuses it soon after the pod is deleted.
func TestDynamicCredentialLivesAsLongAsItsPod(t *testing.T) {
	const (
		hold  = 45 * time.Second
		bound = harness.PodGoneAfter + 3*harness.PodListInterval + 10*time.Second
	)
	for _, tc := range []struct {
		name     string
		ns       string
		rotation bool
		poll     time.Duration
	}{
		{"rotation off", "t-lease-off", false, 0},
		{"rotation every 2m", "t-lease-2m", true, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := node.RestartDriver(tc.rotation, tc.poll); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := node.RestoreDriver(); err != nil {
					t.Errorf("restoring the driver: %v", err)
				}
			})
			s := newScenario(t, tc.ns, "web")
			dynamicTenant(s, "10s", "10m", "12s", "10m")
			s.putSecret("plain", map[string]any{"v": randomValue("plain")})
			s.spc("db", s.workloadParams(), s.dbObjects())
			s.startPod(appPod{name: "web", spc: "db", files: []string{"db-username", "db-password", "plain"}})
			pod := s.running("web")
			dir := node.VolumeDir(pod, "secrets")
			read := func(name string) string {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				return strings.TrimSpace(string(b))
			}
			user, password := read("db-username"), read("db-password")
			mounted := time.Now()
			stats := func(path string) int64 {
				st, err := node.World.Stats(s.ctx)
				if err != nil {
					t.Fatal(err)
				}
				return st.ByPath[path]
			}
			kvReads := stats("secret/data/" + s.ns + "/plain")
			for time.Since(mounted) < hold {
				if err := node.World.PostgresLogin(s.ctx, user, password); err != nil {
					t.Fatalf("%s after the pod's Mount the app cannot log in with its credential: %v\nprovider log:\n%s",
						time.Since(mounted).Round(time.Second), err, s.providerLog())
				}
				time.Sleep(3 * time.Second)
			}
			if n := stats("secret/data/" + s.ns + "/plain"); n != kvReads {
				t.Errorf("the pod mounted again (%d KV reads, was %d): the test proves nothing", n, kvReads)
			}
			if n := stats("database/creds/" + s.ns); n != 1 || read("db-username") != user {
				t.Errorf("Vault issued %d credentials, the file holds %s (was %s); want the first, kept", n, read("db-username"), user)
			}
			t.Logf("the credential logs in to PostgreSQL %s after the pod's only Mount (lease ttl 10s, token ttl 12s, idle fallback 10s)",
				time.Since(mounted).Round(time.Second))

			if err := node.DeletePod(s.ctx, s.ns, "web"); err != nil {
				t.Fatal(err)
			}
			deleted := time.Now()
			for node.World.PostgresLogin(s.ctx, user, password) == nil {
				if time.Since(deleted) > bound {
					t.Fatalf("PostgreSQL still accepts the credential %s after the pod was deleted (bound %s)\nprovider log:\n%s", time.Since(deleted).Round(time.Second), bound, s.providerLog())
				}
				time.Sleep(500 * time.Millisecond)
			}
			t.Logf("PostgreSQL refuses the credential %s after the pod is gone from the API (bound %s)", time.Since(deleted).Round(100*time.Millisecond), bound)
		})
	}
}
