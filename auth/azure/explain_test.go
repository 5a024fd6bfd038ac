package azure

import (
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// TestExplainLoginMatchesThePluginsMessages: each refusal of Vault's azure
// plugin (v0.22 texts) gets the hint for its own cause.
func TestExplainLoginMatchesThePluginsMessages(t *testing.T) {
	facts := LoginFacts{MountPath: "azure", Role: "shop-web", Resource: "https://management.azure.com", TokenTenant: "t-1"}
	tests := []struct {
		name, msg string
		want      []string
	}{
		{"principal", "1 error occurred:\n\t* service principal not authorized: 9e1f2a3b-4c5d\n\n",
			[]string{"does not list the identity's object id 9e1f2a3b-4c5d", "bound_service_principal_ids=9e1f2a3b-4c5d"}},
		{"trailing slash", `unable to verify jwt token: oidc: expected audience "https://management.azure.com/" got ["https://management.azure.com"]`,
			[]string{`resource "https://management.azure.com/" but the token's aud is "https://management.azure.com"`, "only by the trailing slash",
				`set azureResource to "https://management.azure.com/"`}},
		{"other audience", `oidc: expected audience "api://vault" got ["https://management.azure.com/"]`,
			[]string{`resource "api://vault" but the token's aud is "https://management.azure.com/"`, `set azureResource to "api://vault"`}},
		{"resource group", "resource group not authorized", []string{"bound_resource_groups", `azureVMMetadata: "true"`, "bound_service_principal_ids only"}},
		{"vm metadata missing", "subscription_id and resource_group_name are required", []string{"bound_resource_groups", `azureVMMetadata: "true"`}},
		{"scale set", "scale set not authorized", []string{"bound_scale_sets", `azureVMMetadata: "true"`}},
		{"tenant", "oidc: id token issued by a different provider, expected \"https://sts.windows.net/x/\"", []string{"another tenant_id than the token's tid t-1", "tenant_id=t-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := ExplainLogin(tc.msg, facts)
			if !ok {
				t.Fatalf("no explanation for %q", tc.msg)
			}
			text := e.Why + " / " + e.Fix
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("explanation lacks %q:\n%s", w, text)
				}
			}
		})
	}
	if _, ok := ExplainLogin("some new failure", facts); ok {
		t.Error("explained an unknown message")
	}
}

// TestExplainRefusalFallsBackToTheGenericHint: a message nobody knows gets
// the general checklist, which names the resource and the role.
func TestExplainRefusalFallsBackToTheGenericHint(t *testing.T) {
	m, err := New(Config{DefaultTenantID: "t-1"})
	if err != nil {
		t.Fatal(err)
	}
	req := &auth.Request{MountPath: "azure", Role: "shop-web", Params: &Params{Identity: IdentityWorkload, Resource: "https://management.azure.com/"}}
	got := m.ExplainRefusal(req, "something else")
	for _, w := range []string{`resource "https://management.azure.com/"`, `role "shop-web"`, "bound_service_principal_ids"} {
		if !strings.Contains(got, w) {
			t.Errorf("generic hint lacks %q: %s", w, got)
		}
	}
	if got := m.ExplainRefusal(req, "resource group not authorized"); !strings.Contains(got, "azureVMMetadata") || strings.Contains(got, "check that auth/") {
		t.Errorf("specific hint expected, got %s", got)
	}
}
