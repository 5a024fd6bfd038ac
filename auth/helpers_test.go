package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// makeJWT builds an unsigned but well-formed JWT (header.payload.signature).
func makeJWT(t testing.TB, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(p) + "." + enc([]byte("not-a-real-signature"))
}

// recorded is one request the fake Vault received.
type recorded struct {
	Method    string
	Path      string
	Token     string
	HasToken  bool
	Namespace string
	Body      map[string]any
}

// fakeVault is an httptest server speaking enough of Vault's HTTP API for the
// Manager: auth/<mount>/login and auth/token/renew-self.
type fakeVault struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []recorded
	// login answers POST/PUT /v1/auth/<mount>/login. Default: a renewable
	// token "tok-<n>" valid for loginTTL.
	login func(w http.ResponseWriter, r *http.Request, n int)
	// renew answers PUT /v1/auth/token/renew-self. Default: 403.
	renew    func(w http.ResponseWriter, r *http.Request)
	loginTTL int
	logins   atomic.Int32
	renewals atomic.Int32
	// revocations counts auth/token/revoke-self requests.
	revocations atomic.Int32
	// lookups counts auth/token/lookup-self requests; dead tokens get 403.
	lookups atomic.Int32
	dead    sync.Map // token → true
}

// revokedTokens returns the tokens sent to revoke-self, waiting up to a
// second for want of them (revocation runs in the background).
func (fv *fakeVault) revokedTokens(want int) []string {
	deadline := time.Now().Add(time.Second)
	for int(fv.revocations.Load()) < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var out []string
	for _, r := range fv.recorded() {
		if r.Path == "/v1/auth/token/revoke-self" {
			out = append(out, r.Token)
		}
	}
	return out
}

func newFakeVault(t *testing.T) *fakeVault {
	fv := &fakeVault{t: t, loginTTL: 3600}
	fv.srv = httptest.NewServer(http.HandlerFunc(fv.serve))
	t.Cleanup(fv.srv.Close)
	return fv
}

func (fv *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &body)
	}
	_, hasToken := r.Header[http.CanonicalHeaderKey("X-Vault-Token")]
	fv.mu.Lock()
	fv.requests = append(fv.requests, recorded{
		Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-Vault-Token"), HasToken: hasToken,
		Namespace: r.Header.Get("X-Vault-Namespace"), Body: body,
	})
	fv.mu.Unlock()
	switch {
	case r.URL.Path == "/v1/auth/token/renew-self":
		fv.renewals.Add(1)
		if fv.renew != nil {
			fv.renew(w, r)
			return
		}
		writeVaultError(w, http.StatusForbidden, "permission denied")
	case r.URL.Path == "/v1/auth/token/revoke-self":
		fv.revocations.Add(1)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/v1/auth/token/lookup-self":
		fv.lookups.Add(1)
		if _, dead := fv.dead.Load(r.Header.Get("X-Vault-Token")); dead {
			writeVaultError(w, http.StatusForbidden, "permission denied")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"id": r.Header.Get("X-Vault-Token"), "ttl": 100}})
	case strings.HasPrefix(r.URL.Path, "/v1/auth/") && strings.HasSuffix(r.URL.Path, "/login"):
		n := int(fv.logins.Add(1))
		if fv.login != nil {
			fv.login(w, r, n)
			return
		}
		writeAuth(w, "tok-"+itoa(n), fv.loginTTL, true)
	default:
		writeVaultError(w, http.StatusNotFound, "no handler for route")
	}
}

func (fv *fakeVault) recorded() []recorded {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	return append([]recorded(nil), fv.requests...)
}

// client returns a Vault API client for the fake, configured as the
// provider's pool configures them, carrying a token that must never be sent
// to a login.
func (fv *fakeVault) client() *vault.Client {
	fv.t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = fv.srv.URL
	cfg.Timeout = 10 * time.Second
	c, err := vault.NewClient(cfg)
	if err != nil {
		fv.t.Fatal(err)
	}
	c.SetToken("base-client-token")
	return c
}

func writeAuth(w http.ResponseWriter, token string, ttl int, renewable bool) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"request_id": "req",
		"auth": map[string]any{
			"client_token": token, "accessor": "acc-" + token, "policies": []string{"default"},
			"lease_duration": ttl, "renewable": renewable,
		},
	})
}

func writeVaultError(w http.ResponseWriter, status int, msgs ...string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": msgs})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// fakeMethod is an auth.Method whose principal is the pod's service account.
type fakeMethod struct {
	loginCalls atomic.Int32
	// jwt is sent as the login's jwt; empty: a JWT naming the service account.
	jwt      string
	loginErr error
	// checkErr is what Check returns.
	checkErr error
	// block, when set, is waited on inside LoginData (after counting).
	block chan struct{}
	// panics: LoginData panics (once).
	panics atomic.Bool
}

func (f *fakeMethod) Principal(req *Request) (string, error) {
	if req.Pod.ServiceAccount == "" {
		return "", &Error{Kind: KindConfig, Err: errString("no service account")}
	}
	return "sa:" + req.Pod.Namespace + "/" + req.Pod.ServiceAccount, nil
}

func (f *fakeMethod) Check(*Request) error { return f.checkErr }

func (f *fakeMethod) ParameterNames() []string { return []string{"fakeResource"} }

func (f *fakeMethod) ParseParameters(attrs map[string]string) (any, error) {
	return fakeParams{Resource: attrs["fakeResource"]}, nil
}

func (f *fakeMethod) TokenAudience(req *Request) string { return req.Audience }

// fakeParams are a method's own parameters, as azure.Params are.
type fakeParams struct {
	Identity string
	ClientID string
	Resource string
}

func (f *fakeMethod) LoginData(ctx context.Context, req *Request) (map[string]any, error) {
	f.loginCalls.Add(1)
	if f.panics.CompareAndSwap(true, false) {
		var m map[string]int
		m["boom"]++ // a nil map: a runtime error, as a bug would make
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.loginErr != nil {
		return nil, f.loginErr
	}
	jwt := f.jwt
	if jwt == "" {
		jwt = "header.payload-of-" + req.Pod.ServiceAccount + ".sig"
	}
	return map[string]any{"role": req.Role, "jwt": jwt}, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// fakeClock is a goroutine-safe settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
