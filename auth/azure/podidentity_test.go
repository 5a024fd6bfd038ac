package azure

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

func nmiAnswer(token, clientID string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token":    map[string]any{"access_token": token, "token_type": "Bearer", "resource": r.URL.Query().Get("resource"), "expires_in": "3599"},
			"clientid": clientID,
		})
	}
}

func TestPodIdentityLogin(t *testing.T) {
	good := accessToken(t, armAud)
	tests := []struct {
		name       string
		clientID   string
		resource   string
		handler    func(t *testing.T) http.HandlerFunc
		wantJWT    string
		wantKind   auth.Kind
		wantErrHas []string
	}{
		{name: "token for the pod, with client id", clientID: clientID, resource: armAud,
			handler: func(*testing.T) http.HandlerFunc { return nmiAnswer(good, clientID) }, wantJWT: good},
		{name: "token for the pod, default identity", clientID: "", resource: armAud,
			handler: func(*testing.T) http.HandlerFunc { return nmiAnswer(good, clientID) }, wantJWT: good},
		{name: "NMI refuses the pod", clientID: clientID, resource: armAud,
			handler: func(*testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "no AzureAssignedIdentity found for pod:shop/web-0 in assigned state", http.StatusForbidden)
				}
			},
			wantKind: auth.KindCredential, wantErrHas: []string{"NMI refused pod shop/web-0", "HTTP 403", "no AzureAssignedIdentity found", "aadpodidbinding"}},
		{name: "NMI answers without a token", clientID: clientID, resource: armAud,
			handler:  func(*testing.T) http.HandlerFunc { return nmiAnswer("", clientID) },
			wantKind: auth.KindCredential, wantErrHas: []string{"without an access token"}},
		{name: "NMI answers garbage", clientID: clientID, resource: armAud,
			handler: func(*testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>hello</html>")) }
			},
			wantKind: auth.KindCredential, wantErrHas: []string{"without an access token"}},
		{name: "token audience lacks the trailing slash", clientID: clientID, resource: armAud,
			handler: func(t *testing.T) http.HandlerFunc {
				return nmiAnswer(accessToken(t, "https://management.azure.com"), clientID)
			},
			wantKind: auth.KindCredential, wantErrHas: []string{"trailing slash", `aud "https://management.azure.com"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nmi := newRecorder(t, tc.handler(t))
			cfg, other := unusedEndpoints(t)
			cfg.NMIEndpoint = nmi.srv.URL + "/host/token/"
			m := mustNew(t, cfg)
			req := azureRequest(IdentityPodIdentity)
			az(req).ClientID, az(req).Resource = tc.clientID, tc.resource

			data, err := m.LoginData(context.Background(), req)

			if n := nmi.count.Load(); n != 1 {
				t.Errorf("NMI requests = %d, want 1", n)
			}
			if r := nmi.last(); r != nil {
				if r.Method != http.MethodGet || r.URL.Path != "/host/token/" {
					t.Errorf("NMI request %s %s, want GET /host/token/", r.Method, r.URL.Path)
				}
				if r.Header.Get("podname") != "web-0" || r.Header.Get("podns") != "shop" {
					t.Errorf("NMI headers podname=%q podns=%q, want web-0 and shop", r.Header.Get("podname"), r.Header.Get("podns"))
				}
				q := r.URL.Query()
				if q.Get("resource") != tc.resource {
					t.Errorf("NMI resource = %q, want %q", q.Get("resource"), tc.resource)
				}
				if got, has := q.Get("clientid"), q.Has("clientid"); got != tc.clientID || has != (tc.clientID != "") {
					t.Errorf("NMI clientid = %q (present %v), want %q", got, has, tc.clientID)
				}
			}
			if other.count.Load() != 0 {
				t.Errorf("IMDS or Entra ID was called for podIdentity")
			}

			if tc.wantErrHas == nil {
				if err != nil {
					t.Fatalf("LoginData: %v", err)
				}
				if len(data) != 2 || data["role"] != "web" || data["jwt"] != tc.wantJWT {
					t.Errorf("LoginData = %v, want {role: web, jwt: <token>}", data)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Kind != tc.wantKind {
				t.Fatalf("LoginData = %v, %v; want auth.Error kind %d", data, err, tc.wantKind)
			}
			for _, w := range tc.wantErrHas {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, err)
				}
			}
		})
	}
}

func TestPodIdentityUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.URL
	dead.Close()
	cfg, _ := unusedEndpoints(t)
	cfg.NMIEndpoint = addr + "/host/token/"
	m := mustNew(t, cfg)
	_, err := m.LoginData(context.Background(), azureRequest(IdentityPodIdentity))
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Kind != auth.KindUnavailable {
		t.Fatalf("got %v, want KindUnavailable", err)
	}
	for _, w := range []string{strings.TrimPrefix(addr, "http://"), "shop/web-0", "is aad-pod-identity installed"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q: %v", w, err)
		}
	}
}

func TestPodIdentityTimeout(t *testing.T) {
	release := make(chan struct{})
	nmi := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	cfg, _ := unusedEndpoints(t)
	cfg.NMIEndpoint = nmi.srv.URL + "/host/token/"
	cfg.Timeout = 200 * time.Millisecond
	m := mustNew(t, cfg)
	start := time.Now()
	_, err := m.LoginData(context.Background(), azureRequest(IdentityPodIdentity))
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Kind != auth.KindUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a KindUnavailable deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout %v not applied: took %v", cfg.Timeout, d)
	}
}
