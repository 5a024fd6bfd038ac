package azure

import (
	"strings"
	"testing"
)

func TestRoleFindings(t *testing.T) {
	const oid = "9e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
	vmss := "/subscriptions/s/resourceGroups/MC_rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool"
	wi := Params{Identity: IdentityWorkload, Resource: DefaultResource}
	node := Params{Identity: IdentityManaged, Resource: DefaultResource, VMMetadata: true}
	tests := []struct {
		name   string
		role   map[string]any
		claims map[string]any
		p      Params
		want   string // "" : no finding
	}{
		{"bound to the oid", map[string]any{"bound_service_principal_ids": []any{oid}}, map[string]any{"oid": oid}, wi, ""},
		{"other oid", map[string]any{"bound_service_principal_ids": []any{"other"}}, map[string]any{"oid": oid}, wi, "does not list the token's oid " + oid},
		{"neither principals nor groups", map[string]any{"bound_resource_groups": []any{"MC_rg"}}, map[string]any{"oid": oid, "xms_mirid": vmss}, node, "neither service principals nor groups"},
		{"resource bounds without VM metadata", map[string]any{"bound_service_principal_ids": []any{oid}, "bound_resource_groups": []any{"MC_rg"}}, map[string]any{"oid": oid}, wi, "only a login with VM metadata"},
		{"custom audience", map[string]any{"bound_service_principal_ids": []any{oid}, "bound_resource_groups": []any{"MC_rg"}}, map[string]any{"oid": oid},
			Params{Identity: IdentityManaged, Resource: "api://vault", VMMetadata: true}, `no xms_mirid or xms_az_rid claim (azureResource "api://vault")`},
		{"resource group of the token", map[string]any{"bound_service_principal_ids": "x," + oid, "bound_resource_groups": "mc_RG"}, map[string]any{"oid": oid, "xms_mirid": vmss}, node, ""},
		{"other resource group", map[string]any{"bound_service_principal_ids": []any{oid}, "bound_resource_groups": []any{"rg-a"}}, map[string]any{"oid": oid, "xms_mirid": vmss}, node, "does not list the token's resource group MC_rg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(RoleFindings(tc.role, tc.claims, tc.p), " | ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("findings %q, want %q", got, tc.want)
			}
		})
	}
}
