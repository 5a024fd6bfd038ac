package azureemu

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// entraMux serves Microsoft Entra ID's discovery and token endpoints.
func (e *Emulator) entraMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", e.instrument(KindOIDCDiscovery, e.handleDiscoveryV1))
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", e.instrument(KindOIDCDiscoveryV2, e.handleDiscoveryV2))
	jwks := e.instrument(KindJWKS, e.handleJWKS)
	for _, p := range []string{"/common/discovery/keys", "/common/discovery/v2.0/keys", "/{tenant}/discovery/keys", "/{tenant}/discovery/v2.0/keys"} {
		mux.HandleFunc("GET "+p, jwks)
	}
	mux.HandleFunc("GET /common/discovery/instance", e.instrument(KindInstanceDiscovery, e.handleInstanceDiscovery))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", e.instrument(KindEntraToken, e.handleTokenV2))
	mux.HandleFunc("POST /{tenant}/oauth2/token", e.instrument(KindEntraToken, e.handleTokenV1))
	mux.HandleFunc("/", e.instrument(KindUnknown, func(w http.ResponseWriter, r *http.Request) {
		entraError(w, http.StatusNotFound, "invalid_request", 90011, "The request path "+r.URL.Path+" is not served by the emulator.")
	}))
	return mux
}

// base returns https://<host the client asked for>, so discovery documents
// point back at the emulator both directly and behind the proxy.
func base(r *http.Request) string { return "https://" + r.Host }

// knownTenant reports whether the path's tenant is ours, answering with
// Entra's AADSTS90002 otherwise.
func (e *Emulator) knownTenant(w http.ResponseWriter, r *http.Request) bool {
	t := r.PathValue("tenant")
	if strings.EqualFold(t, e.tenant) {
		return true
	}
	entraError(w, http.StatusBadRequest, "invalid_tenant", 90002,
		"Tenant '"+t+"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
	return false
}

func (e *Emulator) handleDiscoveryV1(w http.ResponseWriter, r *http.Request) {
	if !e.knownTenant(w, r) {
		return
	}
	b, t := base(r), e.tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                e.v1Issuer(),
		"token_endpoint":                        b + "/" + t + "/oauth2/token",
		"authorization_endpoint":                b + "/" + t + "/oauth2/authorize",
		"jwks_uri":                              b + "/common/discovery/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
		"scopes_supported":                      []string{"openid"},
		"userinfo_endpoint":                     b + "/" + t + "/openid/userinfo",
		"cloud_instance_name":                   "microsoftonline.com",
		"msgraph_host":                          "graph.microsoft.com",
	})
}

func (e *Emulator) handleDiscoveryV2(w http.ResponseWriter, r *http.Request) {
	if !e.knownTenant(w, r) {
		return
	}
	b, t := base(r), e.tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                e.v2Issuer(),
		"token_endpoint":                        b + "/" + t + "/oauth2/v2.0/token",
		"authorization_endpoint":                b + "/" + t + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         b + "/" + t + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  b + "/" + t + "/oauth2/v2.0/logout",
		"jwks_uri":                              b + "/" + t + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"msgraph_host":                          "graph.microsoft.com",
	})
}

func (e *Emulator) handleJWKS(w http.ResponseWriter, r *http.Request) {
	issuer := e.v1Issuer()
	if strings.Contains(r.URL.Path, "/v2.0/") {
		issuer = e.v2Issuer()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(e.keys.jwks(issuer))
}

// handleInstanceDiscovery answers MSAL's AAD instance discovery
// (/common/discovery/instance?api-version=1.1&authorization_endpoint=...),
// pointing the tenant discovery endpoint at the host MSAL asked about.
func (e *Emulator) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if ae, err := url.Parse(r.URL.Query().Get("authorization_endpoint")); err == nil && ae.Host != "" {
		host = ae.Host
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + e.tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []any{map[string]any{
			"preferred_network": EntraHost,
			"preferred_cache":   "login.windows.net",
			"aliases":           []string{EntraHost, "login.windows.net", "login.microsoft.com", "sts.windows.net", host},
		}},
	})
}

func (e *Emulator) handleTokenV2(w http.ResponseWriter, r *http.Request) {
	if !e.knownTenant(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be parsed.")
		return
	}
	resource, ok := resourceFromScope(w, r.PostForm.Get("scope"))
	if !ok {
		return
	}
	tok, m, ok := e.issueClientCredentialsToken(w, r, resource)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": m.expiresIn, "ext_expires_in": m.expiresIn, "access_token": tok,
	})
}

func (e *Emulator) handleTokenV1(w http.ResponseWriter, r *http.Request) {
	if !e.knownTenant(w, r) {
		return
	}
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be parsed.")
		return
	}
	resource := r.PostForm.Get("resource")
	if resource == "" {
		entraError(w, http.StatusBadRequest, "invalid_resource", 500011, "The request body must contain the following parameter: 'resource'.")
		return
	}
	tok, m, ok := e.issueClientCredentialsToken(w, r, resource)
	if !ok {
		return
	}
	in := strconv.FormatInt(m.expiresIn, 10)
	writeJSON(w, http.StatusOK, map[string]string{
		"token_type": "Bearer", "expires_in": in, "ext_expires_in": in,
		"expires_on": strconv.FormatInt(m.expiresOn.Unix(), 10), "not_before": strconv.FormatInt(m.notBefore.Unix(), 10),
		"resource": resource, "access_token": tok,
	})
}

// resourceFromScope turns a client-credentials scope into the token
// audience: "<resource>/.default" minus the suffix, so that
// "https://management.azure.com//.default" yields "https://management.azure.com/".
func resourceFromScope(w http.ResponseWriter, scope string) (string, bool) {
	var resources []string
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		resources = append(resources, s)
	}
	if len(resources) != 1 || !strings.HasSuffix(resources[0], "/.default") {
		entraError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			"The provided value for scope "+scope+" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
		return "", false
	}
	return strings.TrimSuffix(resources[0], "/.default"), true
}

// issueClientCredentialsToken authenticates the client of a
// client_credentials request and mints its token, or writes an Entra error.
func (e *Emulator) issueClientCredentialsToken(w http.ResponseWriter, r *http.Request, resource string) (string, minted, bool) {
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type '"+gt+"'.")
		return "", minted{}, false
	}
	clientID := f.Get("client_id")
	if clientID == "" {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return "", minted{}, false
	}
	id, ok := e.identity(clientID)
	if !ok {
		entraError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '"+clientID+"' was not found in the directory '"+e.tenant+
				"'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")
		return "", minted{}, false
	}
	appidacr := "2"
	switch {
	case f.Get("client_assertion") != "":
		if f.Get("client_assertion_type") != assertionType {
			entraError(w, http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type '"+f.Get("client_assertion_type")+"'.")
			return "", minted{}, false
		}
		if ee := e.checkAssertion(clientID, f.Get("client_assertion")); ee != nil {
			ee.write(w)
			return "", minted{}, false
		}
	case f.Get("client_secret") != "":
		if !e.secretMatches(clientID, f.Get("client_secret")) {
			entraError(w, http.StatusUnauthorized, "invalid_client", 7000215,
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+clientID+"'.")
			return "", minted{}, false
		}
		appidacr = "1"
	default:
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return "", minted{}, false
	}
	tok, m, err := e.mint(TokenOptions{Identity: id, Audience: resource}, appidacr)
	if err != nil {
		entraError(w, http.StatusInternalServerError, "server_error", 50000, err.Error())
		return "", minted{}, false
	}
	return tok, m, true
}

func (e *Emulator) secretMatches(clientID, secret string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	want, ok := e.secrets[clientID]
	return ok && want == secret
}
