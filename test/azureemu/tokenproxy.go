package azureemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// KindTokenProxy counts token requests at the AKS token proxy.
const KindTokenProxy = "token-proxy"

// IdentityBindingAudience is the audience the AKS token proxy requires of
// the service-account tokens it exchanges.
const IdentityBindingAudience = "api://AKSIdentityBinding"

// TokenProxy emulates the AKS token proxy that identity bindings use, as
// AKS serves it at the cluster's API server: one TLS listener whose
// certificate (from the emulator's CA) names the API server
// (kubernetes.default.svc, hcp-kubernetes.<cluster id>.svc.cluster.local,
// 127.0.0.1) and the proxy's server name, a<base32hex(sha256("identity-binding"
// + cluster id))>.ests.aks. Requests under any other server name are the API
// server's, which serves no Entra paths (404). Under the proxy's name:
//
//   - GET discovery documents are Entra's, passed through;
//   - POST /<tenant>/oauth2/v2.0/token checks the client assertion is a
//     service-account token of the cluster with audience api://AKSIdentityBinding
//     (else 401), that RBAC lets its service account use-managed-identity on
//     cid.wi.aks.azure.com/<client_id> (else 403, Kubernetes' Forbidden
//     status), and that the identity is bound to the cluster (else Entra's
//     AADSTS700211 for the binding's issuer); then answers with the identity's
//     Entra token, as Entra would for the binding's federated credential.
type TokenProxy struct {
	e         *Emulator
	clusterID string
	name      string
	ln        net.Listener
	srv       *http.Server

	mu       sync.Mutex
	bound    map[string]bool            // client ids with an identity binding to this cluster
	rbac     map[string]map[string]bool // client id -> "ns:sa" allowed
	authz    Authorizer                 // replaces rbac when set
	lastName string                     // TLS server name of the last request
}

// Authorizer decides whether a service account may use-managed-identity on
// cid.wi.aks.azure.com/<clientID>, as the cluster's RBAC does.
type Authorizer func(ctx context.Context, namespace, serviceAccount, clientID string) (bool, error)

// SetAuthorizer makes the proxy ask authz instead of its Allow list: with a
// real cluster, a SubjectAccessReview at its API server.
func (p *TokenProxy) SetAuthorizer(authz Authorizer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.authz = authz
}

// ProxyServerName is the server name AKS gives the token proxy of clusterID.
func ProxyServerName(clusterID string) string {
	h := sha256.Sum256([]byte("identity-binding" + clusterID))
	enc := base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)
	return "a" + enc.EncodeToString(h[:]) + ".ests.aks"
}

// StartTokenProxy starts the token proxy of the cluster clusterID.
func (e *Emulator) StartTokenProxy(clusterID string) (*TokenProxy, error) {
	p := &TokenProxy{e: e, clusterID: clusterID, name: ProxyServerName(clusterID),
		bound: map[string]bool{}, rbac: map[string]map[string]bool{}}
	cfg, err := e.ca.ServerTLSConfig(p.name, "kubernetes.default.svc", "hcp-kubernetes."+clusterID+".svc.cluster.local", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.ln = ln
	p.srv = &http.Server{Handler: e.observed(http.HandlerFunc(p.serve)), TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.ServeTLS(ln, "", "") }()
	return p, nil
}

// URL is the API server's address, where the proxy is reached.
func (p *TokenProxy) URL() string { return "https://" + p.ln.Addr().String() }

// ServerName is the proxy's TLS server name.
func (p *TokenProxy) ServerName() string { return p.name }

// LastServerName is the TLS server name the last request came with.
func (p *TokenProxy) LastServerName() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastName
}

// Close stops the proxy.
func (p *TokenProxy) Close() error { return p.srv.Close() }

// Bind creates an identity binding of the identity to this cluster
// (az aks identity-binding create).
func (p *TokenProxy) Bind(clientID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bound[clientID] = true
}

// Allow grants RBAC: the ClusterRole (use-managed-identity on
// cid.wi.aks.azure.com/<clientID>) bound to namespace/serviceAccount.
func (p *TokenProxy) Allow(clientID, namespace, serviceAccount string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rbac[clientID] == nil {
		p.rbac[clientID] = map[string]bool{}
	}
	p.rbac[clientID][namespace+":"+serviceAccount] = true
}

// Disallow removes that grant (the ClusterRoleBinding deleted).
func (p *TokenProxy) Disallow(clientID, namespace, serviceAccount string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.rbac[clientID], namespace+":"+serviceAccount)
}

func (p *TokenProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.lastName = r.TLS.ServerName
	p.mu.Unlock()
	if r.TLS.ServerName != p.name {
		kubeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		p.e.entra.ServeHTTP(w, r)
		return
	}
	p.e.instrument(KindTokenProxy, p.exchange)(w, r)
}

func (p *TokenProxy) exchange(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be parsed.")
		return
	}
	ns, sa, ok := p.serviceAccount(r.PostForm.Get("client_assertion"))
	if !ok {
		kubeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	clientID := r.PostForm.Get("client_id")
	p.mu.Lock()
	allowed, bound, authz := p.rbac[clientID][ns+":"+sa], p.bound[clientID], p.authz
	p.mu.Unlock()
	if authz != nil {
		var err error
		if allowed, err = authz(r.Context(), ns, sa, clientID); err != nil {
			kubeStatus(w, http.StatusInternalServerError, "InternalError", "authorizing: "+err.Error())
			return
		}
	}
	if !allowed {
		kubeStatus(w, http.StatusForbidden, "Forbidden", fmt.Sprintf(
			"%s.cid.wi.aks.azure.com is forbidden: User \"system:serviceaccount:%s:%s\" cannot use-managed-identity resource \"%s\" in API group \"cid.wi.aks.azure.com\" at the cluster scope",
			clientID, ns, sa, clientID))
		return
	}
	id, known := p.e.identity(clientID)
	if !known || !bound {
		entraError(w, http.StatusUnauthorized, "invalid_client", 700211,
			"No matching federated identity record found for presented assertion issuer 'https://ib.oic.prod-aks.azure.com/"+p.e.tenant+"/"+clientID+"/'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.")
		return
	}
	resource, ok := resourceFromScope(w, r.PostForm.Get("scope"))
	if !ok {
		return
	}
	tok, m, err := p.e.mint(TokenOptions{Identity: id, Audience: resource}, "2")
	if err != nil {
		entraError(w, http.StatusInternalServerError, "server_error", 50000, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": m.expiresIn, "ext_expires_in": m.expiresIn, "access_token": tok})
}

// serviceAccount verifies a service-account token of the cluster for the
// proxy's audience, as the API server's TokenReview would.
func (p *TokenProxy) serviceAccount(raw string) (namespace, name string, ok bool) {
	if p.e.cluster == nil {
		return "", "", false
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "", "", false
	}
	var c jwt.Claims
	if err := tok.Claims(p.e.cluster.PublicKey(), &c); err != nil {
		return "", "", false
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: p.e.cluster.URL(), AnyAudience: jwt.Audience{IdentityBindingAudience}, Time: time.Now()}, 0); err != nil {
		return "", "", false
	}
	parts := strings.Split(c.Subject, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" {
		return "", "", false
	}
	return parts[2], parts[3], true
}

// kubeStatus writes a Kubernetes Status object, as the API server answers.
func kubeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code,
	})
}

// SubjectAccessReviewer authorizes at a Kubernetes API server, as AKS's
// token proxy does: a SubjectAccessReview of verb use-managed-identity on
// resource <clientID> in API group cid.wi.aks.azure.com for the service
// account, with a token allowed to create SubjectAccessReviews
// (system:auth-delegator).
func SubjectAccessReviewer(host string, caPEM []byte, token string) (Authorizer, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("azureemu: no CA certificate in the API server's CA")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return func(ctx context.Context, ns, sa, clientID string) (bool, error) {
		body, _ := json.Marshal(map[string]any{
			"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
			"spec": map[string]any{
				"user":   "system:serviceaccount:" + ns + ":" + sa,
				"groups": []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
				"resourceAttributes": map[string]any{
					"group": "cid.wi.aks.azure.com", "resource": clientID, "verb": "use-managed-identity",
				},
			},
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(host, "/")+"/apis/authorization.k8s.io/v1/subjectaccessreviews", bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var out struct {
			Status struct {
				Allowed bool `json:"allowed"`
			} `json:"status"`
		}
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("SubjectAccessReview: %s", resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return false, err
		}
		return out.Status.Allowed, nil
	}, nil
}
