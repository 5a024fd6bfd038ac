package world_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// TestAzureBackendRefusesBadTokens logs in to the world's Vault over HTTP
// with tokens minted by the world's Azure emulator, as seeded for role
// shop-web: the real azure backend accepts only a correctly signed token for
// the configured audience from a bound identity.
func TestAzureBackendRefusesBadTokens(t *testing.T) {
	good := azureemu.TokenOptions{Identity: world.AppIdentity, Audience: world.AzureResource}
	tests := []struct {
		name   string
		mutate func(*azureemu.TokenOptions)
		refuse string // "" = accepted
	}{
		{"correct token", func(*azureemu.TokenOptions) {}, ""},
		{"signed by a different key", func(o *azureemu.TokenOptions) { o.SignWithForeignKey = true }, "signature"},
		{"another audience", func(o *azureemu.TokenOptions) { o.Audience = "https://management.azure.com" }, "audience"},
		{"identity not bound to the role", func(o *azureemu.TokenOptions) { o.Identity = world.OtherIdentity }, "service principal not authorized"},
		{"v2 issuer", func(o *azureemu.TokenOptions) {
			o.Issuer = "https://login.microsoftonline.com/" + world.TenantID + "/v2.0"
		}, "different provider"},
		{"expired", func(o *azureemu.TokenOptions) {
			o.NotBefore = time.Now().Add(-3 * time.Hour)
			o.Extra = map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}
		}, "expired"},
	}
	root, err := theWorld.Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := good
			tc.mutate(&opts)
			tok, err := theWorld.Azure.MintAccessToken(opts)
			if err != nil {
				t.Fatal(err)
			}
			c, err := root.Clone()
			if err != nil {
				t.Fatal(err)
			}
			c.ClearToken()
			c.SetMaxRetries(0) // refusals are HTTP 500: do not retry them
			secret, err := c.Logical().Write("auth/azure/login", map[string]any{"role": "shop-web", "jwt": tok})
			if tc.refuse == "" {
				if err != nil || secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
					t.Fatalf("login refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("login with a bad token succeeded")
			}
			if !strings.Contains(err.Error(), tc.refuse) {
				t.Errorf("refusal %q does not mention %q", err, tc.refuse)
			}
		})
	}
}
