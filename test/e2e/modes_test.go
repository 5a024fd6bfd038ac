package e2e

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// shopObjects covers KV v2 (with and without data/), a nested key, KV v1 and
// a dynamic secret whose certificate and key must come from one issue.
const shopObjects = `
- objectName: db-password
  secretPath: secret/shop/db
  secretKey: password
- objectName: db-username
  secretPath: secret/data/shop/db
  secretKey: username
- objectName: db-tls-mode
  secretPath: secret/shop/db
  secretKey: config.tls.mode
- objectName: legacy-token
  secretPath: kv/shop/legacy
  secretKey: token
- objectName: certs/tls.crt
  secretPath: pki/issue/web
  method: POST
  secretArgs:
    common_name: web.shop.example.com
    ttl: 10m
  secretKey: certificate
- objectName: certs/tls.key
  secretPath: pki/issue/web
  method: POST
  secretArgs:
    common_name: web.shop.example.com
    ttl: 10m
  secretKey: private_key
  filePermission: 0600
`

type authMode struct {
	name   string
	pod    world.Pod
	params map[string]string
}

func authModes() []authMode {
	return []authMode{
		{"workload identity", world.WebPod, map[string]string{
			"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "tenantID": world.TenantID}},
		{"node managed identity", world.OpsPod, map[string]string{
			"roleName": "node-agent", "azureIdentity": "managed", "azureVMMetadata": "true"}},
		{"aad-pod-identity", world.LegacyPod, map[string]string{
			"roleName": "legacy", "azureIdentity": "podIdentity"}},
		{"kubernetes", world.WebPod, map[string]string{
			"roleName": "shop-web", "vaultAuthMethod": "kubernetes", "audience": world.AudienceVault}},
		{"jwt", world.WebPod, map[string]string{
			"roleName": "shop-web", "vaultAuthMethod": "jwt", "audience": world.AudienceVault}},
	}
}

func TestEachAuthModeMountsAllKinds(t *testing.T) {
	for _, mode := range authModes() {
		t.Run(mode.name, func(t *testing.T) {
			params := map[string]string{"objects": shopObjects}
			for k, v := range mode.params {
				params[k] = v
			}
			v, versions, err := mount(t, prov, world.SPC("shop", params), mode.pod, nil)
			if err != nil {
				t.Fatalf("mount: %v", err)
			}
			assertShopFiles(t, v, versions)
		})
	}
}

func assertShopFiles(t *testing.T, v *driver.Volume, versions map[string]string) {
	t.Helper()
	want := map[string]string{
		"db-password": world.DBPassword, "db-username": world.DBUsername,
		"db-tls-mode": "verify-full", "legacy-token": world.LegacyToken,
	}
	for name, content := range want {
		if got := readFile(t, v, name); got != content {
			t.Errorf("%s = %q, want %q", name, got, content)
		}
	}
	certPEM, keyPEM := readFile(t, v, "certs/tls.crt"), readFile(t, v, "certs/tls.key")
	if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
		t.Errorf("certificate and key are not one pair (must come from one issue call): %v", err)
	}
	for name, mode := range map[string]os.FileMode{"db-password": 0o644, "certs/tls.key": 0o600} {
		fi, err := os.Stat(filepath.Join(v.TargetPath, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode = %o, want %o", name, fi.Mode().Perm(), mode)
		}
	}
	if len(versions) != 6 {
		t.Errorf("got %d object versions, want 6: %v", len(versions), versions)
	}
	for id, ver := range versions {
		if ver == "" || strings.Contains(ver, world.DBPassword) {
			t.Errorf("version of %s = %q: must be a non-empty opaque hash", id, ver)
		}
	}
}

func TestWholeSecretAsJSONAndEncoding(t *testing.T) {
	spc := world.SPC("whole", map[string]string{
		"roleName": "shop-web", "clientID": world.AppIdentity.ClientID,
		"objects": `
- objectName: db.json
  secretPath: secret/shop/db
- objectName: api-key
  secretPath: secret/shop/api
  secretKey: key_b64
  encoding: base64
`})
	v, _, err := mount(t, prov, spc, world.WebPod, nil)
	if err != nil {
		t.Fatal(err)
	}
	var whole struct {
		RequestID string `json:"request_id"`
		Data      struct {
			Data     map[string]any `json:"data"`
			Metadata map[string]any `json:"metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(readFile(t, v, "db.json")), &whole); err != nil {
		t.Fatalf("db.json is not JSON: %v", err)
	}
	if whole.Data.Data["password"] != world.DBPassword || whole.RequestID != "" {
		t.Errorf("db.json = %+v: want Vault's response shape with data.data.password and no request_id", whole)
	}
	if got := readFile(t, v, "api-key"); got != world.APIKey {
		t.Errorf("api-key decoded = %q, want %q", got, world.APIKey)
	}
}
