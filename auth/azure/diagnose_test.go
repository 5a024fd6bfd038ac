package azure

import (
	"errors"
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

func TestExplainToken(t *testing.T) {
	m := mustNew(t, Config{})
	req := azureRequest(IdentityWorkload)
	saClaims := map[string]any{"iss": "https://oidc.example/", "sub": "system:serviceaccount:shop:web"}
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("... AADSTS700213: No matching federated identity record found for presented assertion subject"),
			`no federated credential for issuer "https://oidc.example/", subject "system:serviceaccount:shop:web"`},
		{errors.New("... AADSTS700016: Application with identifier 'x' was not found"), "no application or managed identity with clientID"},
		{errors.New("... AADSTS90002: Tenant 'x' not found"), "does not know the tenant"},
		{errors.New("the Azure access token has aud \"a\" but azureResource is \"b\""), "not azureResource"},
		{&auth.Error{Kind: auth.KindUnavailable, Err: errors.New("dial tcp: connection refused")}, "did not answer"},
	}
	for _, tc := range tests {
		if e := m.explainToken(req, saClaims, tc.err); !strings.Contains(e.Why, tc.want) {
			t.Errorf("%v:\n got %+v\nwant %q", tc.err, e, tc.want)
		}
	}
}
