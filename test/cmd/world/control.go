package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/pgserver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// Login is one login the Vault front received: who presented a token, as
// the token's claims name them (never the token itself).
type Login struct {
	// Identity is the Azure access token's oid (azure auth) or the
	// service-account token's sub (kubernetes and jwt auth).
	Identity string `json:"identity"`
	// Issuer is the token's iss claim.
	Issuer string `json:"issuer"`
}

// WorkloadIdentity adds a user-assigned managed identity to the Azure
// emulator with a federated credential for one service account of the
// cluster.
type WorkloadIdentity struct {
	Name           string `json:"name"`
	ClientID       string `json:"clientID"`
	ObjectID       string `json:"objectID"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// IdentityBinding adds a user-assigned managed identity to the Azure
// emulator, bound to the cluster (az aks identity-binding create): pods
// whose service account RBAC allows may use it through the token proxy.
type IdentityBinding struct {
	Name     string `json:"name"`
	ClientID string `json:"clientID"`
	ObjectID string `json:"objectID"`
}

// TokenProxyRBAC makes the token proxy authorize with SubjectAccessReviews
// at a real API server, as AKS's does.
type TokenProxyRBAC struct {
	Host  string `json:"host"`
	CAPEM string `json:"caPEM"`
	Token string `json:"token"`
}

// PostgresLogin is a login to the world's PostgreSQL server, as an app
// makes it with the credential Vault leased.
type PostgresLogin struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// PostgresResult is whether the login and a query succeeded.
type PostgresResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// newControl serves the control API:
//
//	GET  /logins             every login so far, in order ([]Login)
//	GET  /stats              the Vault front's request counters
//	GET  /refused            connections the proxy refused (real hosts)
//	POST /workload-identity  add a WorkloadIdentity
//	POST /identity-binding   add an IdentityBinding
//	POST /token-proxy/rbac   authorize the token proxy at a real API server (TokenProxyRBAC)
//	POST /postgres/login     log in to PostgreSQL as a PostgresLogin says (-postgres)
func newControl(w *world.World, pg *pgserver.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /postgres/login", func(rw http.ResponseWriter, r *http.Request) {
		var l PostgresLogin
		if pg == nil {
			http.Error(rw, "the world runs without PostgreSQL (-postgres)", http.StatusNotFound)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&l); err != nil {
			http.Error(rw, "decoding: "+err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		res := PostgresResult{OK: true}
		if err := pg.Ping(ctx, l.User, l.Password); err != nil {
			res = PostgresResult{Error: err.Error()}
		}
		writeJSON(rw, res)
	})
	mux.HandleFunc("GET /logins", func(rw http.ResponseWriter, _ *http.Request) {
		var out []Login
		for _, jwt := range w.Vault.LoginJWTs() {
			out = append(out, loginOf(jwt))
		}
		writeJSON(rw, out)
	})
	mux.HandleFunc("GET /stats", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, w.Vault.Stats())
	})
	mux.HandleFunc("GET /refused", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, w.Proxy.Refused())
	})
	mux.HandleFunc("POST /workload-identity", func(rw http.ResponseWriter, r *http.Request) {
		var wi WorkloadIdentity
		if err := json.NewDecoder(r.Body).Decode(&wi); err != nil {
			http.Error(rw, "decoding: "+err.Error(), http.StatusBadRequest)
			return
		}
		if wi.ClientID == "" || wi.ObjectID == "" || wi.Namespace == "" || wi.ServiceAccount == "" {
			http.Error(rw, "clientID, objectID, namespace and serviceAccount are required", http.StatusBadRequest)
			return
		}
		w.Azure.AddIdentity(azureemu.Identity{Name: wi.Name, ClientID: wi.ClientID, ObjectID: wi.ObjectID})
		w.Azure.AddFederatedCredential(wi.ClientID, world.ClusterIssuerURL,
			fmt.Sprintf("system:serviceaccount:%s:%s", wi.Namespace, wi.ServiceAccount))
		rw.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /identity-binding", func(rw http.ResponseWriter, r *http.Request) {
		var ib IdentityBinding
		if err := json.NewDecoder(r.Body).Decode(&ib); err != nil || ib.ClientID == "" || ib.ObjectID == "" {
			http.Error(rw, "want {name, clientID, objectID}", http.StatusBadRequest)
			return
		}
		w.Azure.AddIdentity(azureemu.Identity{Name: ib.Name, ClientID: ib.ClientID, ObjectID: ib.ObjectID})
		w.TokenProxy.Bind(ib.ClientID)
		rw.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /token-proxy/rbac", func(rw http.ResponseWriter, r *http.Request) {
		var c TokenProxyRBAC
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(rw, "decoding: "+err.Error(), http.StatusBadRequest)
			return
		}
		authz, err := azureemu.SubjectAccessReviewer(c.Host, []byte(c.CAPEM), c.Token)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.TokenProxy.SetAuthorizer(authz)
		rw.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// loginOf reads the identity claims of a login token without verifying it
// (the Vault front's plugins did that).
func loginOf(jwt string) Login {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return Login{Identity: "(not a JWT)"}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Login{Identity: "(undecodable JWT)"}
	}
	var c struct {
		OID string `json:"oid"`
		Sub string `json:"sub"`
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return Login{Identity: "(undecodable JWT)"}
	}
	id := c.OID
	if id == "" {
		id = c.Sub
	}
	return Login{Identity: id, Issuer: c.Iss}
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(v)
}
