package azure

import (
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// TestExplainLoginMatchesThePluginsMessages: each refusal of Vault's azure
// plugin (v0.22–v0.24 texts) gets the hint for its own cause.
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
	got := m.ExplainRefusal(req, "something else", nil)
	for _, w := range []string{`resource "https://management.azure.com/"`, `role "shop-web"`, "bound_service_principal_ids"} {
		if !strings.Contains(got, w) {
			t.Errorf("generic hint lacks %q: %s", w, got)
		}
	}
	if got := m.ExplainRefusal(req, "resource group not authorized", nil); !strings.Contains(got, "azureVMMetadata") || strings.Contains(got, "check that auth/") {
		t.Errorf("specific hint expected, got %s", got)
	}
}

// TestExplainClaimChecks: the refusals of the plugin's claim checks
// (v0.20.2+, texts of v0.24.0 as TestVaultAzureAuthClaimChecks records
// them) name the check, the token's claim and the fix, from the login sent.
func TestExplainClaimChecks(t *testing.T) {
	m, err := New(Config{DefaultTenantID: tenantID})
	if err != nil {
		t.Fatal(err)
	}
	vmss := "/subscriptions/s-1/resourceGroups/MC_shop_aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss"
	withClaims := func(claims map[string]any, fields map[string]any) map[string]any {
		sent := map[string]any{"role": "node", "jwt": makeJWT(t, claims)}
		for k, v := range fields {
			sent[k] = v
		}
		return sent
	}
	tests := []struct {
		name, resource, msg string
		sent                map[string]any
		want                []string
	}{
		{"custom audience has no xms_mirid", "api://vault-azure-auth",
			"failed to verify flexible vmss claim: xms_az_rid and xms_mirid claims are missing from token",
			withClaims(map[string]any{"aud": "api://vault-azure-auth"}, nil),
			[]string{"the token has no xms_mirid", `azureResource "api://vault-azure-auth" is a custom audience`, "bound_service_principal_ids only", DefaultResource}},
		{"scale set of another name", DefaultResource,
			"failed to verify flexible vmss claim: xms_mirid token claim does not match vmss_name aks-other-vmss",
			withClaims(map[string]any{"xms_mirid": vmss}, map[string]any{"vmss_name": "aks-other-vmss"}),
			[]string{"vmss_name aks-other-vmss does not match the token's xms_mirid scale set aks-pool-vmss", vmss}},
		{"resource group", DefaultResource,
			"xms_mirid token claim does not match resource_group_name rg-other",
			withClaims(map[string]any{"xms_mirid": vmss}, map[string]any{"resource_group_name": "rg-other"}),
			[]string{"resource_group_name rg-other does not match the token's xms_mirid resource group MC_shop_aks_westeurope"}},
		{"resource id outside the group", DefaultResource,
			"provided resource_id does not match resource_group_name",
			withClaims(map[string]any{}, map[string]any{"resource_group_name": "rg-other", "resource_id": vmss}),
			[]string{`resource_id "` + vmss + `" is not in its resource_group_name "rg-other"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &auth.Request{MountPath: "azure", Role: "node", Params: &Params{Identity: IdentityManaged, Resource: tc.resource}}
			got := m.ExplainRefusal(req, tc.msg, tc.sent)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("explanation lacks %q:\n%s", w, got)
				}
			}
			if strings.Contains(got, tc.sent["jwt"].(string)) {
				t.Error("the explanation carries the token")
			}
		})
	}
}
