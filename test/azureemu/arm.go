package azureemu

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// armMux serves the Azure Resource Manager reads vault-plugin-auth-azure
// v0.24.0 makes: VM GET ($expand=instanceView), VMSS GET, user-assigned
// identity GET and list by resource group, provider GET (to pick an
// api-version for resource_id logins) and generic GET by resource id.
func (e *Emulator) armMux() http.Handler {
	return e.instrument(KindARM, e.handleARM)
}

// isARMPath reports whether a path belongs to ARM rather than Entra ID.
func isARMPath(p string) bool {
	p = strings.ToLower(strings.TrimLeft(p, "/"))
	return strings.HasPrefix(p, "subscriptions/") || strings.HasPrefix(p, "providers/")
}

// armError writes ARM's {"error":{"code","message"}} shape.
func armError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// armPath is a parsed ARM request path.
type armPath struct {
	sub, rg, namespace string
	types, names       []string // types lower-cased
}

func parseARMPath(p string) (armPath, bool) {
	var segs []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	var ap armPath
	if len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions") {
		return ap, false
	}
	ap.sub, segs = segs[1], segs[2:]
	if len(segs) >= 2 && strings.EqualFold(segs[0], "resourceGroups") {
		ap.rg, segs = segs[1], segs[2:]
	}
	if len(segs) == 0 {
		return ap, true
	}
	if len(segs) < 2 || !strings.EqualFold(segs[0], "providers") {
		return ap, false
	}
	ap.namespace, segs = segs[1], segs[2:]
	for i := 0; i < len(segs); i += 2 {
		ap.types = append(ap.types, strings.ToLower(segs[i]))
		if i+1 < len(segs) {
			ap.names = append(ap.names, segs[i+1])
		}
	}
	return ap, true
}

func (e *Emulator) handleARM(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-request-id", uuid.NewString())
	if r.Method != http.MethodGet {
		armError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The emulator only serves ARM reads.")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		armError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	if !e.authorizeARM(w, r) {
		return
	}
	ap, ok := parseARMPath(r.URL.Path)
	if !ok {
		armError(w, http.StatusNotFound, "InvalidResourceType", "The resource path '"+r.URL.Path+"' is not supported by the emulator.")
		return
	}
	if !e.armScopeExists(w, ap) {
		return
	}
	switch ns := strings.ToLower(ap.namespace); {
	case ns == "" && ap.rg == "":
		writeJSON(w, http.StatusOK, map[string]string{
			"id": "/subscriptions/" + ap.sub, "subscriptionId": ap.sub, "tenantId": e.tenant,
			"displayName": "emulated subscription", "state": "Enabled",
		})
	case ns == "":
		writeJSON(w, http.StatusOK, map[string]any{
			"id": "/subscriptions/" + ap.sub + "/resourceGroups/" + ap.rg, "name": ap.rg,
			"type": "Microsoft.Resources/resourceGroups", "location": e.location(),
			"properties": map[string]string{"provisioningState": "Succeeded"},
		})
	case ap.rg == "" && len(ap.types) == 0:
		e.serveProvider(w, ap)
	case ns == "microsoft.compute":
		e.serveCompute(w, r, ap)
	case ns == "microsoft.managedidentity":
		e.serveIdentity(w, ap)
	default:
		armNotFound(w, ap)
	}
}

// authorizeARM requires a valid bearer token for Resource Manager.
func (e *Emulator) authorizeARM(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(auth, "Bearer ")
	code, msg := "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
	if ok && raw != "" {
		if code, msg, ok = e.verifyAccessToken(raw); ok {
			return true
		}
	}
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(
		`Bearer authorization_uri="https://%s/%s", error="invalid_token", error_description="%s"`, EntraHost, e.tenant, msg))
	armError(w, http.StatusUnauthorized, code, msg)
	return false
}

// armScopeExists checks the subscription and resource group of a request.
func (e *Emulator) armScopeExists(w http.ResponseWriter, ap armPath) bool {
	subs, rgs := e.armScopes()
	if !subs[strings.ToLower(ap.sub)] {
		armError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", ap.sub))
		return false
	}
	if ap.rg != "" && !rgs[strings.ToLower(ap.sub+"/"+ap.rg)] {
		armError(w, http.StatusNotFound, "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", ap.rg))
		return false
	}
	return true
}

// armScopes lists the subscriptions and "sub/rg" pairs that exist: the VM's
// and those of registered managed identities.
func (e *Emulator) armScopes() (subs, rgs map[string]bool) {
	subs, rgs = map[string]bool{}, map[string]bool{}
	add := func(sub, rg string) {
		if sub != "" {
			subs[strings.ToLower(sub)] = true
		}
		if sub != "" && rg != "" {
			rgs[strings.ToLower(sub+"/"+rg)] = true
		}
	}
	if vm := e.currentVM(); vm != nil {
		add(vm.SubscriptionID, vm.ResourceGroup)
	}
	for _, id := range e.allIdentities() {
		if ap, ok := parseARMPath(id.ResourceID); ok {
			add(ap.sub, ap.rg)
		}
	}
	return subs, rgs
}

func armNotFound(w http.ResponseWriter, ap armPath) {
	typ := ap.namespace
	for i, t := range ap.types {
		typ += "/" + t
		if i < len(ap.names) {
			typ += "/" + ap.names[i]
		}
	}
	armError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf(
		"The Resource '%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", typ, ap.rg))
}

func (e *Emulator) location() string {
	if vm := e.currentVM(); vm != nil {
		return vm.Location
	}
	return "westeurope"
}

// serveProvider answers GET /subscriptions/{s}/providers/{namespace}.
func (e *Emulator) serveProvider(w http.ResponseWriter, ap armPath) {
	types := map[string][]string{
		"microsoft.compute":         {"virtualMachines", "virtualMachineScaleSets", "virtualMachineScaleSets/virtualMachines"},
		"microsoft.managedidentity": {"userAssignedIdentities"},
	}[strings.ToLower(ap.namespace)]
	if types == nil {
		armError(w, http.StatusNotFound, "InvalidResourceNamespace", fmt.Sprintf("The resource namespace '%s' is invalid.", ap.namespace))
		return
	}
	versions := []string{"2024-07-01", "2024-03-01-preview", "2023-09-01", "2022-11-01"}
	if strings.EqualFold(ap.namespace, "Microsoft.ManagedIdentity") {
		versions = []string{"2024-11-30", "2023-01-31", "2018-11-30"}
	}
	var rts []any
	for _, t := range types {
		rts = append(rts, map[string]any{"resourceType": t, "locations": []string{"West Europe"}, "apiVersions": versions})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": "/subscriptions/" + ap.sub + "/providers/" + ap.namespace, "namespace": ap.namespace,
		"registrationState": "Registered", "resourceTypes": rts,
	})
}
