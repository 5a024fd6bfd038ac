package vaultfront

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
)

// The real kubernetes auth plugin logs a service account in only after the
// apiserver's TokenReview (here a stand-in answering for known tokens; the
// real-node tests use a real apiserver) says its token is valid.
func TestKubernetesPluginAsksTokenReview(t *testing.T) {
	iss, err := cluster.NewIssuer("https://issuer.example/")
	must(t, err)
	token := func(sa string) string {
		tok, err := iss.ServiceAccountToken("shop", sa, "vault", "web-0", "", time.Hour)
		must(t, err)
		return tok
	}
	web, intruder, revoked := token("web"), token("intruder"), token("web")
	valid := map[string]string{web: "web", intruder: "intruder"} // token -> service account
	var reviews atomic.Int64
	apiserver := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" || r.Header.Get("Authorization") != "Bearer reviewer-jwt" {
			http.Error(w, "unexpected request", http.StatusUnauthorized)
			return
		}
		reviews.Add(1)
		var tr struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&tr)
		status := map[string]any{"authenticated": false, "error": "token has been invalidated"}
		if sa, ok := valid[tr.Spec.Token]; ok {
			status = map[string]any{"authenticated": true, "audiences": tr.Spec.Audiences, "user": map[string]any{
				"username": "system:serviceaccount:shop:" + sa, "uid": cluster.StableUID("serviceaccount", "shop", sa),
			}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	defer apiserver.Close()

	s := newTestServer(t)
	root := newClient(t, s, s.RootToken(), "")
	must(t, s.EnableAuth("", "kubernetes", KubernetesPluginType))
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: apiserver.Certificate().Raw})
	_, err = root.Logical().Write("auth/kubernetes/config", map[string]any{
		"kubernetes_host": apiserver.URL, "kubernetes_ca_cert": string(ca),
		"token_reviewer_jwt": "reviewer-jwt", "disable_local_ca_jwt": true,
	})
	must(t, err)
	_, err = root.Logical().Write("auth/kubernetes/role/web", map[string]any{
		"bound_service_account_names": "web", "bound_service_account_namespaces": "shop",
		"audience": "vault", "token_policies": "shop-web",
	})
	must(t, err)

	anon := newClient(t, s, "", "")
	sec, err := anon.Logical().Write("auth/kubernetes/login", map[string]any{"role": "web", "jwt": web})
	if err != nil || sec == nil || sec.Auth == nil || !slices.Contains(sec.Auth.Policies, "shop-web") {
		t.Fatalf("login with a valid token: %+v, %v", sec, err)
	}
	if reviews.Load() != 1 {
		t.Fatalf("%d TokenReviews for one login, want 1", reviews.Load())
	}
	// A well-formed token of the right service account that the apiserver
	// no longer accepts (pod deleted, token invalidated).
	_, err = anon.Logical().Write("auth/kubernetes/login", map[string]any{"role": "web", "jwt": revoked})
	wantStatus(t, err, http.StatusForbidden)
	_, err = anon.Logical().Write("auth/kubernetes/login", map[string]any{"role": "web", "jwt": intruder})
	wantStatus(t, err, http.StatusForbidden)
	if !strings.Contains(err.Error(), "service account name not authorized") {
		t.Errorf("another service account refused with %v", err)
	}
	auths, err := root.Sys().ListAuth()
	must(t, err)
	if m := auths["kubernetes/"]; m == nil || m.Type != "kubernetes" {
		t.Errorf("sys/auth lists kubernetes/ as %+v", m)
	}
}
