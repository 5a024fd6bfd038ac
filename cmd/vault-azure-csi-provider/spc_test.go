package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// fakeJWT builds an unsigned JWT with claims (the command only reads claims).
func fakeJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(b) + ".c2ln"
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoClasses = `apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: first, namespace: shop}
spec:
  provider: vault-azure
  parameters:
    roleName: shop-web
    objects: |
      - objectName: a
        secretPath: secret/a
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: second}
spec:
  provider: vault
  parameters: {roleName: other}
`

func TestLoadSPC(t *testing.T) {
	path := writeTemp(t, "spc.yaml", twoClasses)
	tests := []struct {
		name, want, wantErr string
	}{
		{"", "first", ""},
		{"second", "second", ""},
		{"third", "", `no SecretProviderClass named "third" (it has ["first" "second"])`},
	}
	for _, tc := range tests {
		spc, err := loadSPC(path, tc.name)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("loadSPC(%q) err = %v, want %q", tc.name, err, tc.wantErr)
			}
		case err != nil || spc.Metadata.Name != tc.want:
			t.Errorf("loadSPC(%q) = %+v, %v; want %s", tc.name, spc, err, tc.want)
		}
	}
	if _, err := loadSPC(writeTemp(t, "sa.yaml", "kind: ServiceAccount\n"), ""); err == nil {
		t.Error("a file without a SecretProviderClass was accepted")
	}
}

func TestTokenFilesFlag(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "a=b.jwt")
	if err := os.WriteFile(odd, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		value, aud, path string
		bad              bool
	}{
		{"/tmp/t.jwt", "api://AzureADTokenExchange", "/tmp/t.jwt", false},
		{"vault=/tmp/t.jwt", "vault", "/tmp/t.jwt", false},
		{"api://AzureADTokenExchange=/tmp/t.jwt", "api://AzureADTokenExchange", "/tmp/t.jwt", false},
		{odd, "api://AzureADTokenExchange", odd, false},
		{"vault=", "", "", true},
		{"", "", "", true},
	}
	for _, tc := range tests {
		var f tokenFiles
		err := f.Set(tc.value)
		if tc.bad {
			if err == nil {
				t.Errorf("Set(%q) accepted", tc.value)
			}
			continue
		}
		if err != nil || len(f) != 1 || f[0].audience != tc.aud || f[0].path != tc.path {
			t.Errorf("Set(%q) = %+v, %v; want %s=%s", tc.value, f, err, tc.aud, tc.path)
		}
	}
}

func TestAttributesAreWhatTheDriverSends(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	tok := fakeJWT(t, map[string]any{"aud": "vault", "exp": exp.Unix(), "sub": "system:serviceaccount:shop:web"})
	tokens, err := readTokens(tokenFiles{{audience: "vault", path: writeTemp(t, "t.jwt", tok+"\n")}})
	if err != nil {
		t.Fatal(err)
	}
	spc, err := loadSPC(writeTemp(t, "spc.yaml", twoClasses), "")
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := attributes(spc, auth.Pod{Name: "web-0", Namespace: "shop", UID: "u", ServiceAccount: "web"}, tokens)
	if err != nil {
		t.Fatal(err)
	}
	prm, err := params.Parse(attrs, "420", testWiring.Manager.Methods())
	if err != nil {
		t.Fatalf("the provider does not accept the attributes: %v", err)
	}
	if prm.Pod.Namespace != "shop" || prm.Pod.ServiceAccount != "web" || prm.RoleName != "shop-web" {
		t.Errorf("parsed %+v", prm)
	}
	got := prm.ServiceAccountTokens["vault"]
	if got.Token != tok || !got.Expires.Equal(exp) {
		t.Errorf("token %+v, want the file's token expiring at %s", got, exp)
	}
}

func TestObjectAttributesKeepsOneObject(t *testing.T) {
	objects := "- objectName: a\n  secretPath: secret/a\n- objectName: tls.key\n  secretPath: pki/issue/web\n  method: POST\n  secretArgs:\n    common_name: x.example.com\n  filePermission: 0600\n"
	b, _ := json.Marshal(map[string]string{"roleName": "r", "vaultAuthMethod": "kubernetes", "objects": objects})
	one, err := objectAttributes(string(b), 1)
	if err != nil {
		t.Fatal(err)
	}
	prm, err := params.Parse(one, "420", testWiring.Manager.Methods())
	if err != nil {
		t.Fatal(err)
	}
	if len(prm.Objects) != 1 {
		t.Fatalf("%d objects, want 1", len(prm.Objects))
	}
	o := prm.Objects[0]
	if o.ObjectName != "tls.key" || o.Method != "POST" || o.SecretArgs["common_name"] != "x.example.com" || o.FilePermission != 0o600 {
		t.Errorf("object = %+v", o)
	}
	if _, err := objectAttributes(string(b), 2); err == nil {
		t.Error("index out of range accepted")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	files := []provider.File{
		{Path: "a", Mode: 0o644, Contents: []byte("A")},
		{Path: "tls/tls.key", Mode: 0o600, Contents: []byte("K")},
	}
	if err := writeFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Path)
		b, err := os.ReadFile(p)
		fi, serr := os.Stat(p)
		if err != nil || serr != nil || string(b) != string(f.Contents) || fi.Mode().Perm() != f.Mode {
			t.Errorf("%s: %q %v mode %v", f.Path, b, err, fi.Mode())
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "tls"))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if err := writeFiles(dir, []provider.File{{Path: "../escape", Mode: 0o644}}); err == nil {
		t.Error("a path outside the directory was written")
	}
}
