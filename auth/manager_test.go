package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
)

func testRequest(addr string) *Request {
	return &Request{
		VaultAddress: addr,
		Method:       "fake",
		MountPath:    "kubernetes",
		Role:         "app",
		Audience:     "vault",
		Params:       fakeParams{Identity: "workload", Resource: "https://management.azure.com/"},
		Pod:          Pod{Namespace: "shop", Name: "web-0", UID: "uid-1", ServiceAccount: "web"},
	}
}

func newTestManager(fm *fakeMethod, opts Options, clock *fakeClock) *Manager {
	m := NewManager(map[string]Method{"fake": fm, MethodAzure: fm, MethodKubernetes: fm}, opts)
	if clock != nil {
		m.now = clock.Now
	}
	return m
}

func mustToken(t *testing.T, m *Manager, fv *fakeVault, req *Request) string {
	t.Helper()
	lease, err := m.Token(context.Background(), fv.client(), req)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return lease.Token
}

func TestManagerCachesPerIdentity(t *testing.T) {
	tests := []struct {
		name       string
		change     func(r *Request)
		wantShared bool
	}{
		{"same request", func(*Request) {}, true},
		{"same service account, other pod of it", func(r *Request) { r.Pod.Name = "web-1"; r.Pod.UID = "uid-2" }, true},
		{"same identity, other SA token value", func(r *Request) {
			r.Tokens = map[string]ServiceAccountToken{"vault": {Token: "another"}}
		}, true},
		{"other service account (other principal)", func(r *Request) { r.Pod.ServiceAccount = "batch" }, false},
		{"other namespace (other principal)", func(r *Request) { r.Pod.Namespace = "billing" }, false},
		{"other role", func(r *Request) { r.Role = "admin" }, false},
		{"other auth mount", func(r *Request) { r.MountPath = "kubernetes-east" }, false},
		{"other Vault namespace", func(r *Request) { r.VaultNamespace = "team-b" }, false},
		{"other Vault address", func(r *Request) { r.VaultAddress = "https://vault-2.example:8200" }, false},
		{"other audience", func(r *Request) { r.Audience = "vault-2" }, false},
		{"other method parameter (azure resource)", func(r *Request) {
			r.Params = fakeParams{Identity: "workload", Resource: "api://vault"}
		}, false},
		{"other method parameter (azure client)", func(r *Request) {
			r.Params = fakeParams{Identity: "workload", ClientID: "11111111-2222-3333-4444-555555555555", Resource: "https://management.azure.com/"}
		}, false},
		{"other method", func(r *Request) { r.Method = MethodKubernetes }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			fm := &fakeMethod{}
			m := newTestManager(fm, Options{}, nil)
			a := testRequest(fv.srv.URL)
			b := testRequest(fv.srv.URL)
			tc.change(b)

			ta := mustToken(t, m, fv, a)
			tb := mustToken(t, m, fv, b)
			ta2 := mustToken(t, m, fv, a)
			tb2 := mustToken(t, m, fv, b)

			if ta != ta2 || tb != tb2 {
				t.Errorf("repeated calls returned other tokens: %s/%s and %s/%s", ta, ta2, tb, tb2)
			}
			wantLogins := int32(2)
			if tc.wantShared {
				wantLogins = 1
			}
			if got := fv.logins.Load(); got != wantLogins {
				t.Errorf("logins = %d, want %d", got, wantLogins)
			}
			if got := fm.loginCalls.Load(); got != wantLogins {
				t.Errorf("LoginData calls = %d, want %d", got, wantLogins)
			}
			if shared := ta == tb; shared != tc.wantShared {
				t.Errorf("tokens %q and %q: shared = %v, want %v", ta, tb, shared, tc.wantShared)
			}
		})
	}
}

func TestManagerRenewal(t *testing.T) {
	const ttl = 100 // seconds
	renewOK := func(lease int) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			writeAuth(w, r.Header.Get("X-Vault-Token"), lease, true)
		}
	}
	tests := []struct {
		name         string
		renewTokens  bool
		renewable    bool
		advance      time.Duration
		renew        func(w http.ResponseWriter, r *http.Request)
		wantLogins   int32
		wantRenewals int32
		wantSame     bool
	}{
		{"more than a fifth left: cached, no Vault call", false, true, 79 * time.Second, renewOK(ttl), 1, 0, true},
		// The default: a token is used only within the lifetime granted
		// at login; Vault re-verifies the identity at the next login.
		{"last fifth, renewable, default: login again, no renewal", false, true, 81 * time.Second, renewOK(ttl), 2, 0, false},
		{"--renew-tokens, more than a fifth left: cached", true, true, 79 * time.Second, renewOK(ttl), 1, 0, true},
		{"--renew-tokens, last fifth, renewable: renew-self", true, true, 81 * time.Second, renewOK(ttl), 1, 1, true},
		{"--renew-tokens, last fifth, not renewable: login again", true, false, 81 * time.Second, renewOK(ttl), 2, 0, false},
		{"--renew-tokens, last fifth, renewal refused: login again", true, true, 81 * time.Second, nil, 2, 1, false},
		{"--renew-tokens, last fifth, renewal capped by max TTL: login again", true, true, 81 * time.Second, renewOK(ttl/2 - 1), 2, 1, false},
		{"--renew-tokens, expired, renewable: login again without renewing", true, true, 101 * time.Second, renewOK(ttl), 2, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			fv.login = func(w http.ResponseWriter, r *http.Request, n int) {
				writeAuth(w, "tok-"+itoa(n), ttl, tc.renewable)
			}
			fv.renew = tc.renew
			clock := newFakeClock()
			m := newTestManager(&fakeMethod{}, Options{RenewTokens: tc.renewTokens}, clock)
			req := testRequest(fv.srv.URL)
			req.VaultNamespace = "team-a"

			first := mustToken(t, m, fv, req)
			clock.Advance(tc.advance)
			second := mustToken(t, m, fv, req)
			// Right after, the (renewed or new) token is fresh again.
			third := mustToken(t, m, fv, req)

			if got := fv.logins.Load(); got != tc.wantLogins {
				t.Errorf("logins = %d, want %d", got, tc.wantLogins)
			}
			if got := fv.renewals.Load(); got != tc.wantRenewals {
				t.Errorf("renew-self calls = %d, want %d", got, tc.wantRenewals)
			}
			if (first == second) != tc.wantSame {
				t.Errorf("tokens %q then %q: same = %v, want %v", first, second, first == second, tc.wantSame)
			}
			if third != second {
				t.Errorf("token right after renewal/login changed: %q then %q", second, third)
			}
			for _, r := range fv.recorded() {
				if r.Path != "/v1/auth/token/renew-self" {
					continue
				}
				if r.Token != first {
					t.Errorf("renew-self sent X-Vault-Token %q, want the cached token %q", r.Token, first)
				}
				if r.Namespace != "team-a" {
					t.Errorf("renew-self sent namespace %q, want team-a", r.Namespace)
				}
				if inc, _ := r.Body["increment"].(float64); inc != ttl {
					t.Errorf("renew-self increment = %v, want %d", r.Body["increment"], ttl)
				}
			}
		})
	}
}

func TestManagerRenewedTokenGetsNewExpiry(t *testing.T) {
	fv := newFakeVault(t)
	fv.loginTTL = 100
	fv.renew = func(w http.ResponseWriter, r *http.Request) { writeAuth(w, r.Header.Get("X-Vault-Token"), 100, true) }
	clock := newFakeClock()
	m := newTestManager(&fakeMethod{}, Options{RenewTokens: true}, clock)
	req := testRequest(fv.srv.URL)

	tok := mustToken(t, m, fv, req)
	clock.Advance(90 * time.Second) // renewed here: expires at 190s
	mustToken(t, m, fv, req)
	clock.Advance(70 * time.Second) // 160s: 30s of 100 left, fresh after renewal
	if got := mustToken(t, m, fv, req); got != tok {
		t.Errorf("token changed to %q", got)
	}
	if fv.renewals.Load() != 1 || fv.logins.Load() != 1 {
		t.Errorf("renewals=%d logins=%d, want 1 and 1: the renewal must extend the cached expiry", fv.renewals.Load(), fv.logins.Load())
	}
}

// A token Vault granted without a TTL is used for untimedTokenLifetime
// like any other: the identity is still re-verified.
func TestManagerNonExpiringToken(t *testing.T) {
	fv := newFakeVault(t)
	fv.loginTTL = 0
	clock := newFakeClock()
	m := newTestManager(&fakeMethod{}, Options{}, clock)
	req := testRequest(fv.srv.URL)
	a := mustToken(t, m, fv, req)
	clock.Advance(47 * time.Minute)
	b := mustToken(t, m, fv, req)
	clock.Advance(2 * time.Minute)
	c := mustToken(t, m, fv, req)
	if a != b || b == c || fv.logins.Load() != 2 || fv.renewals.Load() != 0 {
		t.Errorf("a token without TTL: %q/%q/%q logins=%d renewals=%d; want it cached for 4/5 of an hour, then a new login",
			a, b, c, fv.logins.Load(), fv.renewals.Load())
	}
}

func TestManagerDisableCache(t *testing.T) {
	fv := newFakeVault(t)
	fm := &fakeMethod{}
	m := newTestManager(fm, Options{DisableCache: true}, nil)
	req := testRequest(fv.srv.URL)
	seen := map[string]bool{}
	for range 3 {
		seen[mustToken(t, m, fv, req)] = true
	}
	if fv.logins.Load() != 3 || fm.loginCalls.Load() != 3 {
		t.Errorf("logins = %d (LoginData %d), want 3: DisableCache logs in every time", fv.logins.Load(), fm.loginCalls.Load())
	}
	if len(seen) != 3 {
		t.Errorf("got %d distinct tokens, want 3", len(seen))
	}
}

// lookupObserver signals each token-cache miss on misses and counts hits.
type lookupObserver struct {
	observe.Nop
	misses chan struct{}
	hits   atomic.Int32
}

func (o *lookupObserver) CacheLookup(cache string, hit bool) {
	if cache != observe.CacheVaultToken {
		return
	}
	if hit {
		o.hits.Add(1)
		return
	}
	o.misses <- struct{}{}
}

func TestManagerSingleflight(t *testing.T) {
	const callers = 50
	fv := newFakeVault(t)
	fm := &fakeMethod{block: make(chan struct{})}
	waiting := &lookupObserver{misses: make(chan struct{}, callers)}
	m := newTestManager(fm, Options{Observer: waiting}, nil)
	client := fv.client()

	var done sync.WaitGroup
	tokens := make([]*Lease, callers)
	errs := make([]error, callers)
	done.Add(callers)
	for i := range callers {
		go func() {
			defer done.Done()
			tokens[i], errs[i] = m.Token(context.Background(), client, testRequest(fv.srv.URL))
		}()
	}
	// Every caller reports its cache miss once it waits for the login,
	// which is held until all of them do.
	for range callers {
		<-waiting.misses
	}
	close(fm.block)
	done.Wait()

	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if tokens[i].Token != tokens[0].Token || !tokens[i].Fresh {
			t.Fatalf("caller %d got %q (fresh %v), caller 0 got %q: every caller that waited for the login holds a fresh token",
				i, tokens[i].Token, tokens[i].Fresh, tokens[0].Token)
		}
	}
	if got := fm.loginCalls.Load(); got != 1 {
		t.Errorf("LoginData calls = %d, want 1", got)
	}
	if got := fv.logins.Load(); got != 1 {
		t.Errorf("Vault logins = %d, want exactly 1 for %d concurrent callers", got, callers)
	}
	if hits, misses := waiting.hits.Load(), len(waiting.misses); hits != 0 || misses != 0 {
		t.Errorf("%d cache hits and %d more misses after the %d callers' misses, want none", hits, misses, callers)
	}
}

func TestManagerLoginRequest(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "token-from-environment")
	tests := []struct {
		name      string
		mount     string
		namespace string
		wantPath  string
	}{
		{"plain mount, no namespace", "azure", "", "/v1/auth/azure/login"},
		{"namespace", "azure", "team-a", "/v1/auth/azure/login"},
		{"nested namespace and mount", "azure/prod", "team-a/app", "/v1/auth/azure/prod/login"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			jwt := makeJWT(t, map[string]any{"aud": "https://management.azure.com/", "oid": "oid-1"})
			m := newTestManager(&fakeMethod{jwt: jwt}, Options{}, nil)
			req := testRequest(fv.srv.URL)
			req.MountPath, req.VaultNamespace = tc.mount, tc.namespace
			base := fv.client()

			if _, err := m.Token(context.Background(), base, req); err != nil {
				t.Fatal(err)
			}
			rs := fv.recorded()
			if len(rs) != 1 {
				t.Fatalf("requests = %+v, want exactly one login", rs)
			}
			r := rs[0]
			if r.Path != tc.wantPath {
				t.Errorf("path = %s, want %s", r.Path, tc.wantPath)
			}
			if r.Method != http.MethodPut && r.Method != http.MethodPost {
				t.Errorf("method = %s, want PUT or POST", r.Method)
			}
			if r.HasToken {
				t.Errorf("login sent X-Vault-Token %q: a login must carry no token", r.Token)
			}
			if r.Namespace != tc.namespace {
				t.Errorf("X-Vault-Namespace = %q, want %q", r.Namespace, tc.namespace)
			}
			if r.Body["role"] != "app" || r.Body["jwt"] != jwt || len(r.Body) != 2 {
				t.Errorf("body = %v, want {role: app, jwt: <jwt>}", r.Body)
			}
			// The caller's client is not changed.
			if base.Token() != "base-client-token" || base.Namespace() != "" {
				t.Errorf("base client changed: token %q namespace %q", base.Token(), base.Namespace())
			}
		})
	}
}

func TestManagerLoginErrorExplained(t *testing.T) {
	const oid = "8f3c7e1a-0000-4000-8000-00000000abcd"
	jwt := makeJWT(t, map[string]any{
		"aud": "https://management.azure.com", "iss": "https://sts.windows.net/tenant-1/", "oid": oid,
		"tid": "tenant-1", "exp": 1900000000,
	})
	tests := []struct {
		name     string
		method   string
		status   int
		errors   []string
		wantKind Kind
		want     []string
	}{
		{"400 azure", MethodAzure, 400, []string{"invalid role name \"app\""}, KindDenied,
			[]string{"HTTP 400", "invalid role name", `there is no role "app" at auth/azure`}},
		{"403 kubernetes", MethodKubernetes, 403, []string{"permission denied"}, KindDenied,
			[]string{"HTTP 403", "permission denied", "binds this service account"}},
		{"500 azure plugin verification failure", MethodAzure, 500,
			[]string{"1 error occurred:\n\t* service principal not authorized: " + oid + "\n\n"}, KindDenied,
			[]string{"HTTP 500", "service principal not authorized", "explained by the method: 1 error occurred: * service principal not authorized"}},
		{"500 without message", MethodAzure, 500, nil, KindDenied, []string{"HTTP 500", "no message"}},
		{"503 sealed", MethodAzure, 503, []string{"Vault is sealed"}, KindUnavailable, []string{"HTTP 503", "Vault is sealed", "sealed or unavailable"}},
		{"429 rate limited", MethodAzure, 429, []string{"request path \"auth/azure/login\": rate limit quota exceeded"}, KindUnavailable, []string{"HTTP 429", "rate limit"}},
		{"502 from a proxy", MethodAzure, 502, nil, KindUnavailable, []string{"HTTP 502", "no message", "proxy or load balancer"}},
		{"504 from a proxy", MethodAzure, 504, nil, KindUnavailable, []string{"HTTP 504", "proxy or load balancer"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			fv.login = func(w http.ResponseWriter, r *http.Request, n int) {
				if tc.errors == nil {
					w.WriteHeader(tc.status)
					return
				}
				writeVaultError(w, tc.status, tc.errors...)
			}
			policy := &retry.Backoff{Retries: 2, Base: time.Millisecond}
			m := NewManager(map[string]Method{MethodAzure: &explainingMethod{fakeMethod: fakeMethod{jwt: jwt}}, MethodKubernetes: &fakeMethod{jwt: jwt}},
				Options{LoginRetry: policy})
			req := testRequest(fv.srv.URL)
			req.Method, req.MountPath, req.Role = tc.method, "azure", "app"

			_, err := m.Token(context.Background(), fv.client(), req)
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("want *auth.Error, got %T %v", err, err)
			}
			if ae.Kind != tc.wantKind {
				t.Errorf("kind = %d, want %d (%v)", ae.Kind, tc.wantKind, err)
			}
			msg := err.Error()
			want := append([]string{
				"auth/azure/login", `role "app"`, "sa:shop/web",
				"aud=https://management.azure.com", "oid=" + oid, "tid=tenant-1", "exp=2030-03-17T17:46:40Z",
			}, tc.want...)
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, jwt) || strings.Contains(msg, "bm90LWEtcmVhbC1zaWduYXR1cmU") {
				t.Errorf("error contains the presented JWT or its signature:\n%s", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines, want one line for the pod's events:\n%s", msg)
			}
			// Refusals are never retried (Azure verification failures are
			// 500s); only "come back later" answers are, within the policy.
			attempts := int32(1)
			if retry.RetryableStatus(tc.status) {
				attempts += int32(policy.Retries)
				if !strings.Contains(msg, "tried 3 times") {
					t.Errorf("error does not say how often it tried:\n%s", msg)
				}
			}
			if got := fv.logins.Load(); got != attempts {
				t.Errorf("login requests = %d, want %d", got, attempts)
			}
			// A failed login is not cached: the next call tries again.
			_, _ = m.Token(context.Background(), fv.client(), req)
			if got := fv.logins.Load(); got != 2*attempts {
				t.Errorf("after a failure, the next Token made %d logins in all, want %d", got, 2*attempts)
			}
		})
	}
}

func TestManagerLoginUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.URL
	dead.Close()
	fv := newFakeVault(t)
	client := fv.client()
	if err := client.SetAddress(addr); err != nil {
		t.Fatal(err)
	}
	m := newTestManager(&fakeMethod{}, Options{LoginRetry: &retry.Backoff{Retries: 2, Base: 50 * time.Millisecond}}, nil)
	req := testRequest(addr)
	req.MountPath = "azure"

	start := time.Now()
	_, err := m.Token(context.Background(), client, req)
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindUnavailable {
		t.Fatalf("want auth.Error KindUnavailable, got %T %v", err, err)
	}
	if !strings.Contains(err.Error(), addr+"/v1/auth/azure/login") {
		t.Errorf("error does not name the login URL %s/v1/auth/azure/login: %v", addr, err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error does not keep the cause: %v", err)
	}
	// Our policy retries a refused connection (backing off 25-50ms, then
	// 50-100ms); vault/api's own retries (a second or more) are off.
	if !strings.Contains(err.Error(), "tried 3 times") {
		t.Errorf("error does not say it tried 3 times: %v", err)
	}
	if d := time.Since(start); d < 75*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("took %v, want the policy's backoff (75-150ms) and no more", d)
	}
}

func TestManagerLoginAnsweredWithoutToken(t *testing.T) {
	fv := newFakeVault(t)
	fv.login = func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"hello":"world"},"warnings":["odd"]}`))
	}
	m := newTestManager(&fakeMethod{}, Options{}, nil)
	_, err := m.Token(context.Background(), fv.client(), testRequest(fv.srv.URL))
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindDenied || !strings.Contains(err.Error(), "without a token") {
		t.Fatalf("want KindDenied 'without a token', got %v", err)
	}
}

func TestManagerErrorsBeforeLogin(t *testing.T) {
	loginErr := &Error{Kind: KindCredential, Err: errString("no token for audience vault")}
	tests := []struct {
		name     string
		method   string
		sa       string
		fm       *fakeMethod
		wantKind Kind
		want     string
	}{
		{"method not enabled", "ldap", "web", &fakeMethod{}, KindConfig, `auth method "ldap" is not enabled`},
		{"principal refused", "fake", "", &fakeMethod{}, KindConfig, "no service account"},
		{"credential check failed", "fake", "web", &fakeMethod{checkErr: loginErr}, KindCredential, "no token for audience vault"},
		{"login data failed", "fake", "web", &fakeMethod{loginErr: loginErr}, KindCredential, "no token for audience vault"},
	}
	for _, tc := range tests {
		for _, disable := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				fv := newFakeVault(t)
				m := newTestManager(tc.fm, Options{DisableCache: disable}, nil)
				req := testRequest(fv.srv.URL)
				req.Method, req.Pod.ServiceAccount = tc.method, tc.sa
				_, err := m.Token(context.Background(), fv.client(), req)
				var ae *Error
				if !errors.As(err, &ae) || ae.Kind != tc.wantKind || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want kind %d containing %q", err, tc.wantKind, tc.want)
				}
				if n := len(fv.recorded()); n != 0 {
					t.Errorf("Vault got %d requests, want none", n)
				}
			})
		}
	}
}

func TestManagerContextCancelled(t *testing.T) {
	fv := newFakeVault(t)
	fm := &fakeMethod{block: make(chan struct{})}
	m := newTestManager(fm, Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Token(ctx, fv.client(), testRequest(fv.srv.URL))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// explainingMethod explains refusals as a method that knows its plugin's
// messages does (see auth/azure).
type explainingMethod struct {
	fakeMethod
}

func (m *explainingMethod) ExplainRefusal(_ *Request, vaultMessage string, _ map[string]any) string {
	return "explained by the method: " + retry.OneLine(vaultMessage)
}

// TestManagerLoginPanicIsAnError: a panic in a shared login (a goroutine
// of the singleflight group, outside any gRPC handler) fails that login
// and leaves the process serving: the next call logs in.
func TestManagerLoginPanicIsAnError(t *testing.T) {
	fv := newFakeVault(t)
	fm := &fakeMethod{}
	fm.panics.Store(true)
	m := newTestManager(fm, Options{}, nil)
	req := testRequest(fv.srv.URL)
	_, err := m.Token(context.Background(), fv.client(), req)
	var pe *guard.PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "a login") || !strings.Contains(err.Error(), "runtime error") {
		t.Fatalf("a panicking login: %v, want a PanicError", err)
	}
	if _, err := m.Token(context.Background(), fv.client(), req); err != nil {
		t.Fatalf("the next login: %v", err)
	}
}
