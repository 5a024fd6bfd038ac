package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

func TestVaultNamespace(t *testing.T) {
	const ns = "team-a"
	v := theWorld.Vault
	must(t, v.CreateNamespace(ns))
	must(t, v.EnableSecrets(ns, "secret", "kv", map[string]string{"version": "2"}))
	must(t, v.EnableAuth(ns, "azure", "azure"))
	must(t, v.PutPolicy(ns, "team-a-read", `path "secret/data/team/*" { capabilities = ["read"] }`))
	root, err := theWorld.Root()
	must(t, err)
	root.SetNamespace(ns)
	writes := map[string]map[string]any{
		"auth/azure/config": {"tenant_id": world.TenantID, "resource": world.AzureResource,
			"client_id": world.VaultSP.ClientID, "client_secret": world.VaultSPSecret},
		"auth/azure/role/team-a-web": {"bound_service_principal_ids": world.AppIdentity.ObjectID, "token_policies": "team-a-read"},
		"secret/data/team/config":    {"data": map[string]any{"token": "namespaced-value"}},
	}
	for p, d := range writes {
		if _, err := root.Logical().Write(p, d); err != nil {
			t.Fatalf("writing %s in namespace %s: %v", p, ns, err)
		}
	}
	params := map[string]string{
		"roleName": "team-a-web", "clientID": world.AppIdentity.ClientID, "vaultNamespace": ns,
		"objects": "- objectName: token\n  secretPath: secret/team/config\n  secretKey: token\n",
	}
	vol, _, err := mount(t, prov, world.SPC("ns", params), world.WebPod, nil)
	if err != nil {
		t.Fatalf("mount in namespace: %v", err)
	}
	if got := readFile(t, vol, "token"); got != "namespaced-value" {
		t.Errorf("token = %q", got)
	}
	delete(params, "vaultNamespace")
	if _, _, err := mount(t, prov, world.SPC("no-ns", params), world.WebPod, nil); err == nil {
		t.Errorf("the namespace's role worked in the root namespace")
	}
}

// tlsVault is a second Vault front that serves HTTPS for the name
// vault.internal only and requires a client certificate.
func tlsVault(t *testing.T) (addr, certFile, keyFile string) {
	t.Helper()
	cfg, err := theWorld.CA.MTLSServerConfig("vault.internal")
	must(t, err)
	tv, err := vaultfront.New(vaultfront.Options{TLSConfig: cfg})
	must(t, err)
	t.Cleanup(func() { tv.Close() })
	must(t, tv.EnableSecrets("", "secret", "kv", map[string]string{"version": "2"}))
	must(t, tv.EnableAuth("", "jwt", "jwt"))
	must(t, tv.PutPolicy("", "read", `path "secret/data/*" { capabilities = ["read"] }`))
	certPEM, keyPEM, err := theWorld.CA.ClientCert("provider")
	must(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	must(t, os.WriteFile(certFile, certPEM, 0o600))
	must(t, os.WriteFile(keyFile, keyPEM, 0o600))
	cfgc := vault.DefaultConfig()
	cfgc.Address = tv.Addr()
	must(t, cfgc.ConfigureTLS(&vault.TLSConfig{CACert: theWorld.CAFile, ClientCert: certFile, ClientKey: keyFile, TLSServerName: "vault.internal"}))
	root, err := vault.NewClient(cfgc)
	must(t, err)
	root.SetToken(tv.RootToken())
	for p, d := range map[string]map[string]any{
		"auth/jwt/config":   {"jwt_validation_pubkeys": []string{theWorld.Cluster.PublicKeyPEM()}, "bound_issuer": world.ClusterIssuerURL},
		"auth/jwt/role/web": {"role_type": "jwt", "bound_audiences": "vault", "user_claim": "sub", "bound_subject": world.WebPod.Subject(), "token_policies": "read"},
		"secret/data/tls":   {"data": map[string]any{"value": "over-mtls"}},
	} {
		if _, err := root.Logical().Write(p, d); err != nil {
			t.Fatalf("writing %s: %v", p, err)
		}
	}
	return tv.Addr(), certFile, keyFile
}

func TestVaultTLSParameters(t *testing.T) {
	addr, cert, key := tlsVault(t)
	base := func(extra map[string]string) map[string]string {
		p := map[string]string{
			"vaultAddress": addr, "roleName": "web", "vaultAuthMethod": "jwt", "audience": "vault",
			"vaultTLSClientCertPath": cert, "vaultTLSClientKeyPath": key,
			"objects": "- objectName: value\n  secretPath: secret/tls\n  secretKey: value\n",
		}
		for k, v := range extra {
			if v == "" {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		return p
	}
	tests := []struct {
		name   string
		params map[string]string
		code   codes.Code // OK: mount succeeds
		want   string
	}{
		{"CA, server name and client certificate", base(map[string]string{"vaultCACertPath": theWorld.CAFile, "vaultTLSServerName": "vault.internal"}), codes.OK, ""},
		{"CA as PEM", base(map[string]string{"vaultCAPem": string(theWorld.CA.CertPEM()), "vaultTLSServerName": "vault.internal"}), codes.OK, ""},
		{"skip verify", base(map[string]string{"vaultSkipTLSVerify": "true"}), codes.OK, ""},
		{"wrong server name", base(map[string]string{"vaultCACertPath": theWorld.CAFile}), codes.Unavailable, "vaultTLSServerName"},
		{"no client certificate", base(map[string]string{"vaultCACertPath": theWorld.CAFile, "vaultTLSServerName": "vault.internal",
			"vaultTLSClientCertPath": "", "vaultTLSClientKeyPath": ""}), codes.Unavailable, "certificate"},
		{"CA file missing", base(map[string]string{"vaultCACertPath": "/nonexistent/ca.pem"}), codes.InvalidArgument, "vaultCACertPath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vol, _, err := mount(t, prov, world.SPC("tls", tc.params), world.WebPod, nil)
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("mount: %v", err)
				}
				if got := readFile(t, vol, "value"); got != "over-mtls" {
					t.Errorf("value = %q", got)
				}
				return
			}
			st, _ := status.FromError(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.want) {
				t.Errorf("got %s %q, want %s containing %q", st.Code(), st.Message(), tc.code, tc.want)
			}
		})
	}
	if !strings.Contains(prov.Logs(), "vaultSkipTLSVerify is true") {
		t.Errorf("vaultSkipTLSVerify did not log a warning")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
