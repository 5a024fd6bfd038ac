package azure

import (
	"fmt"
	"slices"
	"strings"
)

// RoleFindings compares a Vault azure role (as `vault read
// auth/<mount>/role/<name>` returns it) with the Azure token's claims (never
// its value) and the identity kind, and returns what will make the plugin
// refuse the login, or what binds less than it should. Empty: nothing found.
func RoleFindings(role map[string]any, claims map[string]any, p Params) []string {
	sps, groups := listOf(role["bound_service_principal_ids"]), listOf(role["bound_group_ids"])
	rgs, subs, sets, locs := listOf(role["bound_resource_groups"]), listOf(role["bound_subscription_ids"]), listOf(role["bound_scale_sets"]), listOf(role["bound_locations"])
	oid, _ := claims["oid"].(string)
	mirid, _ := claims["xms_mirid"].(string)
	azrid, _ := claims["xms_az_rid"].(string)
	var out []string
	if len(sps) == 0 && len(groups) == 0 {
		out = append(out, "the role binds neither service principals nor groups (bound_service_principal_ids, bound_group_ids): any identity of the tenant matching its other bounds may log in, and the plugin's v0.21.0 release notes require one of them; bind the identity's object id")
	}
	if len(sps) > 0 && oid != "" && !slices.Contains(sps, "*") && !slices.ContainsFunc(sps, func(s string) bool { return strings.EqualFold(s, oid) }) {
		out = append(out, fmt.Sprintf("bound_service_principal_ids %v does not list the token's oid %s", sps, oid))
	}
	resourceBound := len(rgs)+len(subs)+len(sets)+len(locs) > 0
	switch {
	case resourceBound && !p.VMMetadata:
		out = append(out, fmt.Sprintf("the role binds resources (resource groups %v, subscriptions %v, scale sets %v, locations %v), which only a login with VM metadata can match: "+
			"azureIdentity %s sends none (azureVMMetadata applies to the node's identity only)", rgs, subs, sets, locs, p.Identity))
	case resourceBound && mirid == "" && azrid == "":
		out = append(out, fmt.Sprintf("the role binds resources but the token has no xms_mirid or xms_az_rid claim (azureResource %q): Entra ID adds them only for first-party resources such as %s", p.Resource, DefaultResource))
	case len(rgs) > 0:
		rg := segmentOf(mirid, "resourceGroups")
		if azrid != "" {
			rg = segmentOf(azrid, "resourceGroups")
		}
		if rg != "" && !slices.ContainsFunc(rgs, func(s string) bool { return strings.EqualFold(s, rg) }) {
			out = append(out, fmt.Sprintf("bound_resource_groups %v does not list the token's resource group %s", rgs, rg))
		}
	}
	return out
}

// listOf reads a role field: a JSON list or a comma-separated string.
func listOf(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	case []string:
		out = slices.DeleteFunc(slices.Clone(x), func(s string) bool { return s == "" })
	case string:
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
