package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A pod's database credential is kept across the kubelet's re-publishes:
// one issue in Vault, the same file, no rewrite by the driver — while a KV
// object of the same class is read again at every re-publish.
func TestDynamicCredentialKeptAcrossRepublish(t *testing.T) {
	s := newScenario(t, "t-dynamic", "web")
	s.vaultWrite("sys/mounts/database", map[string]any{"type": "database"})
	s.vaultWrite("database/roles/t-dynamic", map[string]any{"db_name": "pg", "default_ttl": "1h", "max_ttl": "24h"})
	s.vaultWrite("sys/policies/acl/t-dynamic", map[string]any{"policy": `
path "secret/data/t-dynamic/*" { capabilities = ["read"] }
path "database/creds/t-dynamic" { capabilities = ["read"] }
path "sys/leases/revoke/database/creds/t-dynamic/*" { capabilities = ["update"] }
`})
	s.putSecret("plain", map[string]any{"v": randomValue("plain")})
	s.spc("db", s.workloadParams(), []object{
		{Name: "db-username", Path: "database/creds/t-dynamic", Key: "username"},
		{Name: "db-password", Path: "database/creds/t-dynamic", Key: "password"},
		{Name: "plain", Path: "secret/data/t-dynamic/plain", Key: "v"},
	})
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
