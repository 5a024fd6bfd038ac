package azure

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

var _ auth.Method = (*Method)(nil)

const (
	tenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID = "11111111-2222-3333-4444-555555555555"
	armAud   = "https://management.azure.com/"
)

// makeJWT builds an unsigned but well-formed JWT: this code never verifies
// signatures (Vault does).
func makeJWT(t testing.TB, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(p) + "." + enc([]byte("sig"))
}

func accessToken(t testing.TB, aud string) string {
	return makeJWT(t, map[string]any{
		"aud": aud, "iss": "https://sts.windows.net/" + tenantID + "/", "tid": tenantID,
		"oid": "aaaaaaaa-0000-4000-8000-000000000001", "exp": 1900000000,
	})
}

// recorder is an httptest server that records requests and answers with a
// settable handler.
type recorder struct {
	srv   *httptest.Server
	count atomic.Int32
	mu    sync.Mutex
	reqs  []*http.Request
	h     http.HandlerFunc
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	r := &recorder{h: h}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.count.Add(1)
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Clone(req.Context()))
		r.mu.Unlock()
		r.h(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) last() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return nil
	}
	return r.reqs[len(r.reqs)-1]
}

// unusedEndpoints points every Azure endpoint at a server that fails the
// test if it is called.
func unusedEndpoints(t *testing.T) (Config, *recorder) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request to an Azure endpoint: %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusTeapot)
	})
	return Config{
		IMDSEndpoint:  rec.srv.URL,
		NMIEndpoint:   rec.srv.URL + "/host/token/",
		AuthorityHost: "https://127.0.0.1:1/",
	}, rec
}

func mustNew(t *testing.T, cfg Config) *Method {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func azureRequest(identity string) *auth.Request {
	return &auth.Request{
		VaultAddress: "https://vault.example:8200",
		Method:       auth.MethodAzure,
		MountPath:    "azure",
		Role:         "web",
		Params:       &Params{Identity: identity, ClientID: clientID, TenantID: tenantID, Resource: armAud},
		Pod:          auth.Pod{Namespace: "shop", Name: "web-0", UID: "uid-1", ServiceAccount: "web"},
	}
}

// az returns req's Azure parameters, to change them.
func az(req *auth.Request) *Params { return req.Params.(*Params) }
