package e2e

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// TestPlainHTTPVaultAddress: an http:// vaultAddress is warned about once
// per address; with --require-vault-tls it is refused (and so is an http
// --vault-addr at startup), while https:// works.
func TestPlainHTTPVaultAddress(t *testing.T) {
	t.Run("warned once per address", func(t *testing.T) {
		p := startProvider(t)
		for range 3 {
			mountDB(t, p, nil)
		}
		if n := strings.Count(p.Logs(), "WARNING: Vault address uses plain http://"); n != 1 {
			t.Errorf("%d warnings about the plain-http address after 3 mounts, want 1:\n%s", n, p.Logs())
		}
		if !strings.Contains(p.Logs(), `vaultAddress="`+theWorld.Vault.Addr()+`"`) {
			t.Errorf("the warning does not name the address")
		}
	})
	t.Run("--require-vault-tls refuses http --vault-addr at startup", func(t *testing.T) {
		p, err := theWorld.StartProvider("--require-vault-tls")
		if err == nil {
			p.Stop()
			t.Fatal("the provider started with --require-vault-tls and an http --vault-addr")
		}
		if !strings.Contains(err.Error(), "--require-vault-tls") {
			t.Errorf("startup error does not name --require-vault-tls: %v", err)
		}
	})
	t.Run("--require-vault-tls refuses an http vaultAddress, accepts https", func(t *testing.T) {
		addr, cert, key := tlsVault(t)
		p := startProvider(t, "--require-vault-tls", "--vault-addr="+addr)
		v, err := mountAs(t, p, world.SPC("plain", withDefaults(map[string]string{"vaultAddress": theWorld.Vault.Addr()})), world.WebPod, 30*time.Second)
		expectFailure(t, v, err, codes.InvalidArgument, "vaultAddress", "plain http://", "--require-vault-tls")
		tls := map[string]string{
			"vaultAddress": addr, "roleName": "web", "vaultAuthMethod": "jwt", "audience": "vault",
			"vaultCACertPath": theWorld.CAFile, "vaultTLSServerName": "vault.internal",
			"vaultTLSClientCertPath": cert, "vaultTLSClientKeyPath": key,
			"objects": "- objectName: value\n  secretPath: secret/tls\n  secretKey: value\n",
		}
		if _, err := mountAs(t, p, world.SPC("tls", tls), world.WebPod, 30*time.Second); err != nil {
			t.Errorf("https Vault refused with --require-vault-tls: %v", err)
		}
	})
}
