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
	// MIRID and AzRID are the token's xms_mirid and xms_az_rid claims
	// (empty: absent or unknown).
	MIRID, AzRID string
	// Sent are the VM fields of the login (resource_group_name, vm_name,
	// vmss_name, resource_id, subscription_id), if any.
	Sent map[string]string
}

var (
	notAuthorizedOID = regexp.MustCompile(`service principal not authorized: ([0-9a-fA-F-]+)`)
	// go-oidc's message, quoted by the plugin: expected audience "X" got ["Y"]
	expectedAudience = regexp.MustCompile(`expected audience "([^"]*)" got \[([^\]]*)\]`)
	quoted           = regexp.MustCompile(`"([^"]*)"`)
	// vault-plugin-auth-azure v0.20.2+: a login field against the token's claims.
	claimMismatch = regexp.MustCompile(`(xms_az_rid|xms_mirid) token claim does not match (resource_group_name|vm_name|vmss_name) (\S+)`)
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
	if e, ok := explainClaimChecks(msg, f, role); ok {
		return e, true
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

// explainClaimChecks explains the refusals of the claim checks the azure
// plugin makes since v0.20.2: the VM fields of a login must name the
// resource group, VM or scale set in the token's xms_az_rid / xms_mirid.
func explainClaimChecks(msg string, f LoginFacts, role string) (Explanation, bool) {
	switch {
	case strings.Contains(msg, "xms_az_rid and xms_mirid claims are missing from token"):
		why := fmt.Sprintf("the token has no xms_mirid (nor xms_az_rid) claim, which %s needs because it binds resource groups, scale sets or subscriptions: Entra ID puts them only into tokens for first-party resources such as %s", role, DefaultResource)
		if f.Resource != DefaultResource {
			why += fmt.Sprintf(", and azureResource %q is a custom audience", f.Resource)
		}
		return Explanation{Why: why, Fix: fmt.Sprintf(
			"bind the identity by bound_service_principal_ids only (vault write %s bound_resource_groups=\"\" bound_subscription_ids=\"\" bound_scale_sets=\"\"), or use azureResource %s with that resource in auth/%s/config",
			role, DefaultResource, f.MountPath)}, true
	case strings.Contains(msg, "provided resource_id does not match resource_group_name"):
		return Explanation{
			Why: fmt.Sprintf("the login's resource_id %q is not in its resource_group_name %q", f.Sent["resource_id"], f.Sent["resource_group_name"]),
			Fix: "the VM metadata must describe one machine: use azureVMMetadata (the provider reads both from the node's IMDS) rather than values of another VM"}, true
	}
	m := claimMismatch.FindStringSubmatch(msg)
	if m == nil {
		return Explanation{}, false
	}
	claim, field, value := m[1], m[2], m[3]
	token := f.MIRID
	if claim == "xms_az_rid" {
		token = f.AzRID
	}
	segment := map[string]string{"resource_group_name": "resourceGroups", "vm_name": "virtualMachines", "vmss_name": "virtualMachineScaleSets"}[field]
	what := map[string]string{"resource_group_name": "resource group", "vm_name": "VM", "vmss_name": "scale set"}[field]
	have := segmentOf(token, segment)
	why := fmt.Sprintf("%s %s does not match the token's %s %s %s", field, value, claim, what, cmp.Or(have, "(none named)"))
	if token != "" {
		why += fmt.Sprintf(" (%s %s)", claim, token)
	}
	return Explanation{
		Why: why + ": the login describes another machine than the one whose managed identity issued the token",
		Fix: "log in as the identity of the node the provider runs on (azureVMMetadata sends that node's names), or, for an identity of another resource group or VM, bind it by bound_service_principal_ids without resource bounds",
	}, true
}

// segmentOf returns the name after /<segment>/ in an ARM id (case-insensitive).
func segmentOf(id, segment string) string {
	parts := strings.Split(id, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], segment) {
			return parts[i+1]
		}
	}
	return ""
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
// events, matched to the plugin's message and the login sent (the token's
// claims, never its value).
func (m *Method) ExplainRefusal(req *auth.Request, vaultMessage string, sent map[string]any) string {
	tenant, _ := m.tenant(req)
	f := LoginFacts{MountPath: req.MountPath, Role: req.Role, Resource: paramsOf(req).Resource, TokenTenant: tenant}
	f.addSent(sent)
	e, ok := ExplainLogin(vaultMessage, f)
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

// addSent fills the facts from a login body: the token's claims and the VM
// fields.
func (f *LoginFacts) addSent(sent map[string]any) {
	if jwt, ok := sent["jwt"].(string); ok {
		if c, err := auth.Claims(jwt); err == nil {
			f.MIRID, _ = c["xms_mirid"].(string)
			f.AzRID, _ = c["xms_az_rid"].(string)
			if tid, ok := c["tid"].(string); ok && tid != "" {
				f.TokenTenant = tid
			}
		}
	}
	for _, k := range []string{"subscription_id", "resource_group_name", "vm_name", "vmss_name", "resource_id"} {
		if v, ok := sent[k].(string); ok && v != "" {
			if f.Sent == nil {
				f.Sent = map[string]string{}
			}
			f.Sent[k] = v
		}
	}
}
