package azureemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// nodeMux serves the node-local endpoints: IMDS and aad-pod-identity's NMI.
func (e *Emulator) nodeMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata/identity/oauth2/token", e.instrument(KindIMDSToken, e.handleIMDSToken))
	mux.HandleFunc("/metadata/instance", e.instrument(KindIMDSInstance, e.handleIMDSInstance))
	mux.HandleFunc("/metadata/instance/", e.instrument(KindIMDSInstance, e.handleIMDSInstance))
	mux.HandleFunc("/host/token", e.instrument(KindNMI, e.handleNMI))
	mux.HandleFunc("/host/token/", e.instrument(KindNMI, e.handleNMI))
	mux.HandleFunc("/", e.instrument(KindUnknown, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
	}))
	return mux
}

// imdsError writes IMDS's {error, error_description} JSON.
func imdsError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// imdsPreflight applies the checks IMDS makes on every request.
func imdsPreflight(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		imdsError(w, http.StatusMethodNotAllowed, "invalid_request", "Only GET is supported")
		return false
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return false
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Request contains a X-Forwarded-For header; IMDS does not accept proxied requests")
		return false
	}
	if r.URL.Query().Get("api-version") == "" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required query variable 'api-version' is missing")
		return false
	}
	return true
}

func (e *Emulator) handleIMDSToken(w http.ResponseWriter, r *http.Request) {
	if !imdsPreflight(w, r) {
		return
	}
	q := r.URL.Query()
	resource := q.Get("resource")
	if resource == "" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required audience parameter not specified")
		return
	}
	vm := e.currentVM()
	if vm == nil {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	id, userAssigned, errDesc := e.selectIMDSIdentity(vm, q.Get("client_id"), q.Get("object_id"), firstNonEmpty(q.Get("msi_res_id"), q.Get("mi_res_id")))
	if errDesc != "" {
		imdsError(w, http.StatusBadRequest, "invalid_request", errDesc)
		return
	}
	opts := TokenOptions{Identity: id, Audience: resource, TTL: imdsTTL}
	if userAssigned {
		opts.AzureResourceID = vm.computeRID()
	}
	tok, m, err := e.mint(opts, "2")
	if err != nil {
		imdsError(w, http.StatusInternalServerError, "unknown_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token":   tok,
		"client_id":      id.ClientID,
		"expires_in":     strconv.FormatInt(m.expiresIn, 10),
		"expires_on":     strconv.FormatInt(m.expiresOn.Unix(), 10),
		"ext_expires_in": strconv.FormatInt(m.expiresIn, 10),
		"not_before":     strconv.FormatInt(m.notBefore.Unix(), 10),
		"resource":       resource,
		"token_type":     "Bearer",
	})
}

// selectIMDSIdentity picks the identity an IMDS token request asks for. With
// no selector IMDS uses the system identity, or the only user-assigned one.
func (e *Emulator) selectIMDSIdentity(vm *VM, clientID, objectID, resID string) (Identity, bool, string) {
	attached := e.attachedIdentities(vm)
	if clientID == "" && objectID == "" && resID == "" {
		switch {
		case vm.SystemIdentity != nil:
			return *vm.SystemIdentity, false, ""
		case len(attached) == 1:
			return attached[0], true, ""
		case len(attached) > 1:
			return Identity{}, false, "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"
		default:
			return Identity{}, false, "Identity not found"
		}
	}
	matches := func(id Identity) bool {
		return (clientID != "" && strings.EqualFold(id.ClientID, clientID)) ||
			(objectID != "" && strings.EqualFold(id.ObjectID, objectID)) ||
			(resID != "" && strings.EqualFold(id.ResourceID, resID))
	}
	for _, id := range attached {
		if matches(id) {
			return id, true, ""
		}
	}
	if vm.SystemIdentity != nil && matches(*vm.SystemIdentity) {
		return *vm.SystemIdentity, false, ""
	}
	return Identity{}, false, "Identity not found"
}

func (e *Emulator) handleIMDSInstance(w http.ResponseWriter, r *http.Request) {
	if !imdsPreflight(w, r) {
		return
	}
	vm := e.currentVM()
	if vm == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
		return
	}
	var node any = map[string]any{"compute": e.computeDoc(vm), "network": networkDoc()}
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/metadata/instance"), "/")
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" {
			continue
		}
		m, ok := node.(map[string]any)
		if !ok || m[seg] == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
			return
		}
		node = m[seg]
	}
	if s, ok := node.(string); ok && r.URL.Query().Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(s))
		return
	}
	writeJSON(w, http.StatusOK, node)
}

func (e *Emulator) computeDoc(vm *VM) map[string]any {
	return map[string]any{
		"azEnvironment":     "AzurePublicCloud",
		"location":          vm.Location,
		"name":              vm.Name,
		"osType":            "Linux",
		"provider":          "Microsoft.Compute",
		"resourceGroupName": vm.ResourceGroup,
		"resourceId":        vm.ResourceID,
		"subscriptionId":    vm.SubscriptionID,
		"tagsList":          []any{},
		"vmId":              vm.VMID,
		"vmScaleSetName":    vm.VMSSName,
		"vmSize":            "Standard_D4s_v5",
		"zone":              "",
	}
}

func networkDoc() map[string]any {
	return map[string]any{"interface": []any{map[string]any{
		"ipv4":       map[string]any{"ipAddress": []any{map[string]string{"privateIpAddress": "10.224.0.4", "publicIpAddress": ""}}},
		"macAddress": "000D3A000000",
	}}}
}

// handleNMI emulates aad-pod-identity's NMI /host/token/ endpoint.
func (e *Emulator) handleNMI(w http.ResponseWriter, r *http.Request) {
	podns, podname := r.Header.Get("podns"), r.Header.Get("podname")
	if podns == "" || podname == "" {
		http.Error(w, "missing 'podname' and 'podns' from request header", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	resource := q.Get("resource")
	if resource == "" {
		http.Error(w, "parameter resource cannot be empty", http.StatusBadRequest)
		return
	}
	clientID := firstNonEmpty(q.Get("client_id"), q.Get("clientid"))
	e.mu.RLock()
	bound := append([]string(nil), e.pods[podns+"/"+podname]...)
	e.mu.RUnlock()
	chosen := ""
	for _, cid := range bound {
		if clientID == "" || strings.EqualFold(cid, clientID) {
			chosen = cid
			break
		}
	}
	if chosen == "" {
		http.Error(w, fmt.Sprintf("no AzureAssignedIdentity found for pod:%s/%s in assigned state", podns, podname), http.StatusNotFound)
		return
	}
	id, ok := e.identity(chosen)
	if !ok {
		http.Error(w, fmt.Sprintf("failed to get service principal token: identity %s is not registered", chosen), http.StatusForbidden)
		return
	}
	tok, m, err := e.mint(TokenOptions{Identity: id, Audience: resource, TTL: imdsTTL}, "2")
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token": map[string]string{
			"access_token": tok, "refresh_token": "",
			"expires_in": strconv.FormatInt(m.expiresIn, 10), "expires_on": strconv.FormatInt(m.expiresOn.Unix(), 10),
			"not_before": strconv.FormatInt(m.notBefore.Unix(), 10), "resource": resource, "token_type": "Bearer",
		},
		"clientid": id.ClientID,
	})
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
