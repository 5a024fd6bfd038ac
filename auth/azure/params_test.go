package azure

import (
	"reflect"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// TestEveryParameterIsPartOfTheCacheKey: two logins whose Azure parameters
// differ in any one field never share a Vault token.
func TestEveryParameterIsPartOfTheCacheKey(t *testing.T) {
	a := Params{Identity: IdentityManaged, ClientID: clientID, TenantID: tenantID, Resource: armAud, VMMetadata: true}
	base := azureRequest(IdentityManaged)
	base.Params = &a
	v := reflect.ValueOf(a)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the base parameters leave %s unset", v.Type().Field(i).Name)
		}
		b := a
		reflect.ValueOf(&b).Elem().Field(i).SetZero()
		other := *base
		other.Params = &b
		if auth.CacheKey(base, "p") == auth.CacheKey(&other, "p") {
			t.Errorf("parameters that differ only in %s share a token cache key", v.Type().Field(i).Name)
		}
	}
}

func TestTokenAudience(t *testing.T) {
	m := mustNew(t, Config{})
	tests := []struct {
		identity, audience, want string
	}{
		{IdentityWorkload, "", WorkloadAudience},
		{IdentityWorkload, "x", "x"},
		{IdentityManaged, "vault", ""},
		{IdentityPodIdentity, "", ""},
	}
	for _, tc := range tests {
		req := azureRequest(tc.identity)
		req.Audience = tc.audience
		if got := m.TokenAudience(req); got != tc.want {
			t.Errorf("%s with audience %q: TokenAudience = %q, want %q", tc.identity, tc.audience, got, tc.want)
		}
	}
}
