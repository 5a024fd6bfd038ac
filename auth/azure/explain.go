package azure

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// Explanation says why Vault refused an azure login and how to fix it.
type Explanation struct {
	Why string
	Fix string
}

// LoginFacts is what is known of a refused login besides Vault's message.
type LoginFacts struct {
	MountPath string
	Role      string
	// Resource is azureResource: the audience the token was requested for.
	Resource string
	// TokenTenant is the tid claim of the token sent, if known.
	TokenTenant string
}

var (
	notAuthorizedOID = regexp.MustCompile(`service principal not authorized: ([0-9a-fA-F-]+)`)
	// go-oidc's message, quoted by the plugin: expected audience "X" got ["Y"]
	expectedAudience = regexp.MustCompile(`expected audience "([^"]*)" got \[([^\]]*)\]`)
	quoted           = regexp.MustCompile(`"([^"]*)"`)
)

// ExplainLogin matches the message of Vault's azure auth plugin refusing a
// login to its cause. It reports false when the message names no cause it
// knows.
func ExplainLogin(msg string, f LoginFacts) (Explanation, bool) {
	role := fmt.Sprintf("auth/%s/role/%s", f.MountPath, f.Role)
	if m := notAuthorizedOID.FindStringSubmatch(msg); m != nil {
		return Explanation{
			Why: fmt.Sprintf("%s does not list the identity's object id %s in bound_service_principal_ids (the token's oid is the managed identity's principal id, not its client id)", role, m[1]),
			Fix: fmt.Sprintf("vault write %s bound_service_principal_ids=%s (keep other bound ids, comma-separated), or set roleName to the role made for this identity", role, m[1]),
		}, true
	}
	if m := expectedAudience.FindStringSubmatch(msg); m != nil {
		return audienceMismatch(f, m[1], quoted.FindAllStringSubmatch(m[2], -1)), true
	}
	switch {
	case strings.Contains(msg, "issued by a different provider"):
		tid := cmp.Or(f.TokenTenant, "<tenant>")
		return Explanation{
			Why: fmt.Sprintf("the token's issuer is not the one Vault expects: auth/%s/config has another tenant_id than the token's tid %s (or the token is an Entra v2 token, which Vault's azure auth refuses)", f.MountPath, cmp.Or(f.TokenTenant, "(unknown)")),
			Fix: fmt.Sprintf("vault write auth/%s/config tenant_id=%s resource=%s", f.MountPath, tid, f.Resource),
		}, true
	case containsAny(msg, "subscription_id and resource_group_name are required", "subscription not authorized",
		"resource group not authorized", "scale set not authorized", "vm_name, vmss_name", "location not authorized"):
		return Explanation{
			Why: fmt.Sprintf("%s binds subscriptions, resource groups, scale sets or locations (bound_subscription_ids, bound_resource_groups, bound_scale_sets, bound_locations), which only a login with the VM's metadata can match", role),
			Fix: "for the node's managed identity set azureVMMetadata: \"true\" in the SecretProviderClass and check the bounds against the node pool (its MC_ resource group and scale set); for workload identity remove those bounds from the role and bind bound_service_principal_ids only",
		}, true
	}
	return Explanation{}, false
}

// audienceMismatch explains go-oidc's "expected audience" refusal: Vault's
// configured resource is not the token's aud, often only by a trailing slash.
func audienceMismatch(f LoginFacts, expected string, gotMatches [][]string) Explanation {
	got := make([]string, 0, len(gotMatches))
	for _, g := range gotMatches {
		got = append(got, g[1])
	}
	gotText := strings.Join(got, ", ")
	if len(got) == 1 && got[0] != expected && strings.TrimSuffix(got[0], "/") == strings.TrimSuffix(expected, "/") {
		return Explanation{
			Why: fmt.Sprintf("auth/%s/config has resource %q but the token's aud is %q: they differ only by the trailing slash, and Vault compares them exactly", f.MountPath, expected, got[0]),
			Fix: fmt.Sprintf("set azureResource to %q (exactly the resource of auth/%s/config), or write that config's resource as %q", expected, f.MountPath, got[0]),
		}
	}
	return Explanation{
		Why: fmt.Sprintf("auth/%s/config has resource %q but the token's aud is %q", f.MountPath, expected, gotText),
		Fix: fmt.Sprintf("set azureResource to %q (exactly the resource of auth/%s/config)", expected, f.MountPath),
	}
}

// ExplainRefusal implements auth.RefusalExplainer: a hint for the pod's
// events, matched to the plugin's message.
func (m *Method) ExplainRefusal(req *auth.Request, vaultMessage string) string {
	tenant, _ := m.tenant(req)
	e, ok := ExplainLogin(vaultMessage, LoginFacts{MountPath: req.MountPath, Role: req.Role, Resource: paramsOf(req).Resource, TokenTenant: tenant})
	if !ok {
		return fmt.Sprintf("check that auth/%s/config has resource %q (must equal the token's aud exactly) and the tenant of the token, and that role %q lists the token's oid in bound_service_principal_ids",
			req.MountPath, paramsOf(req).Resource, req.Role)
	}
	return e.Why + "; fix: " + e.Fix
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
