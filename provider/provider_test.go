package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/methods"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
)

// fakeAuth is an Authenticator with a one-token cache: it "logs in" (hands
// out a fresh login-<n>) when nothing is cached; Refused drops the cached
// token unless the lease was fresh, as auth.Manager does.
type fakeAuth struct {
	mu         sync.Mutex
	cached     string
	err        error
	logins     int
	tokenCalls int
	refusals   int // Refused calls
	forgets    int // tokens dropped
	reqs       []auth.Request
	addrs      []string
}

func (f *fakeAuth) Token(_ context.Context, c *vault.Client, req *auth.Request) (*auth.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenCalls++
	f.reqs = append(f.reqs, *req)
	f.addrs = append(f.addrs, c.Address())
	if f.err != nil {
		return nil, f.err
	}
	if f.cached == "" {
		f.logins++
		f.cached = fmt.Sprintf("login-%d", f.logins)
		return &auth.Lease{Token: f.cached, Fresh: true}, nil
	}
	return &auth.Lease{Token: f.cached}, nil
}

// Methods are the provider's real auth methods: they parse their parameters.
func (f *fakeAuth) Methods() auth.Methods { return testMethods }

func (f *fakeAuth) Refused(_ context.Context, l *auth.Lease, _ string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refusals++
	if l.Fresh {
		return false
	}
	if f.cached == l.Token {
		f.forgets++
		f.cached = ""
	}
	return true
}

func (f *fakeAuth) stats() (tokenCalls, logins, forgets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls, f.logins, f.forgets
}

type vaultReq struct {
	Method, Path, Token, Namespace, Body string
}

// fakeVault: a KV v2 mount at secret/, a PKI-like issue endpoint that returns
// a new serial per call, and token checks: only tokens "login-<n>" are
// accepted, and secret/data/denied is refused to everyone.
type fakeVault struct {
	srv    *httptest.Server
	mu     sync.Mutex
	kv     map[string]map[string]any
	serial int
	reqs   []vaultReq
}

func newFakeVault(t *testing.T) *fakeVault {
	fv := &fakeVault{kv: map[string]map[string]any{
		"db":  {"username": "app", "password": "pw-1"},
		"api": {"key": "k-1"},
	}}
	fv.srv = httptest.NewServer(http.HandlerFunc(fv.serve))
	t.Cleanup(fv.srv.Close)
	return fv
}

func (fv *fakeVault) set(name, key, value string) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	fv.kv[name][key] = value
}

func (fv *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	token := r.Header.Get("X-Vault-Token")
	fv.mu.Lock()
	defer fv.mu.Unlock()
	fv.reqs = append(fv.reqs, vaultReq{r.Method, r.URL.Path, token, r.Header.Get("X-Vault-Namespace"), string(b)})
	if !strings.HasPrefix(token, "login-") {
		writeJSON(w, http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	switch {
	case strings.HasPrefix(path, "sys/internal/ui/mounts/secret/"):
		writeJSON(w, 200, map[string]any{"data": map[string]any{"path": "secret/", "type": "kv", "options": map[string]any{"version": "2"}}})
	case path == "secret/data/denied":
		writeJSON(w, http.StatusForbidden, map[string]any{"errors": []string{"1 error occurred:\n\t* permission denied\n\n"}})
	case strings.HasPrefix(path, "secret/data/") && r.Method == http.MethodGet:
		data, ok := fv.kv[strings.TrimPrefix(path, "secret/data/")]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"errors": []string{}})
			return
		}
		copied := map[string]any{}
		for k, v := range data {
			copied[k] = v
		}
		writeJSON(w, 200, map[string]any{"request_id": fmt.Sprint(len(fv.reqs)), "data": map[string]any{"data": copied, "metadata": map[string]any{"version": 1}}})
	case path == "pki/issue/web" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		var args map[string]any
		_ = json.Unmarshal(b, &args)
		fv.serial++
		writeJSON(w, 200, map[string]any{"lease_id": fmt.Sprintf("pki/issue/web/%d", fv.serial), "data": map[string]any{
			"certificate": fmt.Sprintf("CERT-%d-%v", fv.serial, args["common_name"]),
			"private_key": fmt.Sprintf("KEY-%d", fv.serial),
		}})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": []string{}})
	}
}

func (fv *fakeVault) requests() []vaultReq {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	return append([]vaultReq(nil), fv.reqs...)
}

// reads counts the requests for path other than mount detection.
func (fv *fakeVault) count(method, path string) int {
	n := 0
	for _, r := range fv.requests() {
		if r.Path == path && (method == "" || r.Method == method) {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// testMethods are the provider's auth methods, as cmd wires them.
var testMethods = func() auth.Methods {
	ms, err := methods.New(methods.Config{})
	if err != nil {
		panic(err)
	}
	return ms
}()

const saTokenExpiry = "2031-05-06T07:08:09Z"

func attributes(t *testing.T, addr, objects string, extra map[string]string) string {
	t.Helper()
	m := map[string]string{
		"roleName":                      "app",
		"vaultAuthMethod":               "kubernetes",
		"vaultNamespace":                "team-a",
		"audience":                      "vault",
		"objects":                       objects,
		params.AttrPodName:              "web-0",
		params.AttrPodNamespace:         "shop",
		params.AttrPodUID:               "uid-1",
		params.AttrServiceAccountName:   "web",
		params.AttrServiceAccountTokens: `{"vault":{"token":"sa-jwt","expirationTimestamp":"` + saTokenExpiry + `"}}`,
	}
	if addr != "" {
		m["vaultAddress"] = addr
	}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newProvider(t *testing.T, cfg Config, a Authenticator) *Provider {
	t.Helper()
	if cfg.VaultTimeout == 0 {
		cfg.VaultTimeout = 10 * time.Second
	}
	p, err := New(cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const mixedObjects = `
- objectName: db-user
  secretPath: secret/db
  secretKey: username
- objectName: db-password
  secretPath: secret/db
  secretKey: password
  filePermission: 0600
- objectName: db.json
  secretPath: secret/db
- objectName: certs/tls.crt
  secretPath: pki/issue/web
  method: POST
  secretArgs: {common_name: web.example.com, ttl: 10m}
  secretKey: certificate
- objectName: certs/tls.key
  secretPath: pki/issue/web
  method: POST
  secretArgs: {ttl: 10m, common_name: web.example.com}
  secretKey: private_key
  filePermission: 0400
`

func TestMountReturnsAllObjects(t *testing.T) {
	fv := newFakeVault(t)
	fa := &fakeAuth{}
	p := newProvider(t, Config{}, fa)
	res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, mixedObjects, nil), "/var/lib/kubelet/pods/x/volumes/v", "420")
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	want := []struct {
		path    string
		mode    os.FileMode
		content string
	}{
		{"db-user", 0o644, "app"},
		{"db-password", 0o600, "pw-1"},
		{"db.json", 0o644, ""},
		{"certs/tls.crt", 0o644, "CERT-1-web.example.com"},
		{"certs/tls.key", 0o400, "KEY-1"},
	}
	if len(res.Files) != len(want) || len(res.Versions) != len(want) {
		t.Fatalf("files %d versions %d, want %d each", len(res.Files), len(res.Versions), len(want))
	}
	for i, w := range want {
		f := res.Files[i]
		if f.Path != w.path || f.Mode != w.mode {
			t.Errorf("file %d = %s %o, want %s %o", i, f.Path, f.Mode, w.path, w.mode)
		}
		if w.content != "" && string(f.Contents) != w.content {
			t.Errorf("%s = %q, want %q", f.Path, f.Contents, w.content)
		}
		if res.Versions[i].ID != w.path || res.Versions[i].Version == "" {
			t.Errorf("version %d = %+v", i, res.Versions[i])
		}
	}
	var whole map[string]any
	if err := json.Unmarshal(res.Files[2].Contents, &whole); err != nil {
		t.Fatalf("db.json is not JSON: %v", err)
	}
	if inner, _ := whole["data"].(map[string]any)["data"].(map[string]any); inner["password"] != "pw-1" {
		t.Errorf("db.json = %s", res.Files[2].Contents)
	}
	// Every Vault request carried the token from the Authenticator and the
	// SecretProviderClass's namespace.
	for _, r := range fv.requests() {
		if r.Token != "login-1" || r.Namespace != "team-a" {
			t.Errorf("%s %s: token %q namespace %q", r.Method, r.Path, r.Token, r.Namespace)
		}
	}
}

func TestMountMakesEachDistinctRequestOnce(t *testing.T) {
	tests := []struct {
		name       string
		objects    string
		wantGets   int
		wantIssues int
	}{
		{"same path and key spelled twice", "- {objectName: a, secretPath: secret/db, secretKey: username}\n- {objectName: b, secretPath: secret/db, secretKey: password}\n- {objectName: c, secretPath: secret/db}\n", 1, 0},
		{"same issue, args in another order", "- {objectName: crt, secretPath: pki/issue/web, method: POST, secretArgs: {common_name: a, ttl: 1h}, secretKey: certificate}\n- {objectName: key, secretPath: pki/issue/web, method: post, secretArgs: {ttl: 1h, common_name: a}, secretKey: private_key}\n", 0, 1},
		{"different args are different requests", "- {objectName: crt, secretPath: pki/issue/web, method: POST, secretArgs: {common_name: a}, secretKey: certificate}\n- {objectName: crt2, secretPath: pki/issue/web, method: POST, secretArgs: {common_name: b}, secretKey: certificate}\n", 0, 2},
		{"POST and PUT are different requests", "- {objectName: crt, secretPath: pki/issue/web, method: POST, secretArgs: {common_name: a}, secretKey: certificate}\n- {objectName: crt2, secretPath: pki/issue/web, method: PUT, secretArgs: {common_name: a}, secretKey: certificate}\n", 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			p := newProvider(t, Config{}, &fakeAuth{})
			for mount := 1; mount <= 2; mount++ {
				if _, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, tc.objects, nil), "/t", "420"); err != nil {
					t.Fatalf("Mount %d: %v", mount, err)
				}
				if got := fv.count(http.MethodGet, "/v1/secret/data/db"); got != tc.wantGets*mount {
					t.Errorf("after mount %d: GET secret/data/db = %d, want %d", mount, got, tc.wantGets*mount)
				}
				if got := fv.count("", "/v1/pki/issue/web"); got != tc.wantIssues*mount {
					t.Errorf("after mount %d: pki/issue/web = %d, want %d", mount, got, tc.wantIssues*mount)
				}
			}
		})
	}
}

func TestMountSharedResponseKeepsCertAndKeyTogether(t *testing.T) {
	fv := newFakeVault(t)
	p := newProvider(t, Config{ObjectConcurrency: 4}, &fakeAuth{})
	res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, mixedObjects, nil), "/t", "420")
	if err != nil {
		t.Fatal(err)
	}
	crt, key := string(res.Files[3].Contents), string(res.Files[4].Contents)
	if !strings.HasPrefix(crt, "CERT-1-") || key != "KEY-1" {
		t.Errorf("certificate %q and key %q come from different issues", crt, key)
	}
}

func TestMountVersions(t *testing.T) {
	objs := "- {objectName: user, secretPath: secret/db, secretKey: username}\n" +
		"- {objectName: password, secretPath: secret/db, secretKey: password}\n" +
		"- {objectName: password-copy, secretPath: secret/db, secretKey: password}\n"
	fv := newFakeVault(t)
	p := newProvider(t, Config{}, &fakeAuth{})
	mount := func() map[string]string {
		t.Helper()
		res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, objs, nil), "/t", "420")
		if err != nil {
			t.Fatal(err)
		}
		v := map[string]string{}
		for _, ver := range res.Versions {
			v[ver.ID] = ver.Version
		}
		return v
	}
	v1 := mount()
	v2 := mount()
	for id := range v1 {
		if v1[id] != v2[id] {
			t.Errorf("%s: version changed without a content change: %s → %s", id, v1[id], v2[id])
		}
		if strings.Contains(v1[id], "pw-1") || strings.Contains(v1[id], fmt.Sprintf("%x", "pw-1")) {
			t.Errorf("%s: version reveals the content: %s", id, v1[id])
		}
	}
	if v1["password"] == v1["password-copy"] {
		t.Errorf("two objects with the same content share a version")
	}
	fv.set("db", "password", "pw-2")
	v3 := mount()
	if v3["password"] == v1["password"] || v3["password-copy"] == v1["password-copy"] {
		t.Errorf("password version did not change with the content: %s → %s", v1["password"], v3["password"])
	}
	if v3["user"] != v1["user"] {
		t.Errorf("user version changed though its content did not")
	}
	fv.set("db", "password", "pw-1")
	if v4 := mount(); v4["password"] != v1["password"] {
		t.Errorf("same content, different version: %s vs %s", v4["password"], v1["password"])
	}
}

func TestMountRetriesOnceAfterForbidden(t *testing.T) {
	t.Run("stale cached token", func(t *testing.T) {
		fv := newFakeVault(t)
		fa := &fakeAuth{cached: "stale-token"}
		p := newProvider(t, Config{}, fa)
		res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, mixedObjects, nil), "/t", "420")
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
		if len(res.Files) != 5 {
			t.Errorf("files = %d", len(res.Files))
		}
		calls, logins, forgets := fa.stats()
		if forgets != 1 || logins != 1 || calls != 2 {
			t.Errorf("Token calls %d, logins %d, dropped %d; want 2, 1, 1", calls, logins, forgets)
		}
		var stale, fresh int
		for _, r := range fv.requests() {
			switch r.Token {
			case "stale-token":
				stale++
			case "login-1":
				fresh++
			}
		}
		if stale == 0 || fresh == 0 {
			t.Errorf("requests with the stale token %d, with the new one %d", stale, fresh)
		}
	})
	t.Run("policy denies even a new token", func(t *testing.T) {
		fv := newFakeVault(t)
		fa := &fakeAuth{cached: "stale-token"}
		p := newProvider(t, Config{}, fa)
		_, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, "- {objectName: x, secretPath: secret/denied, secretKey: k}\n", nil), "/t", "420")
		var se *secrets.Error
		if !errors.As(err, &se) || se.Status != http.StatusForbidden || se.Path != "secret/data/denied" {
			t.Fatalf("got %v, want a 403 *secrets.Error for secret/data/denied", err)
		}
		calls, logins, forgets := fa.stats()
		if forgets != 1 || logins != 1 || calls != 2 {
			t.Errorf("Token calls %d, logins %d, dropped %d; want 2, 1, 1 (one retry only)", calls, logins, forgets)
		}
		if fa.refusals != 2 {
			t.Errorf("Refused calls %d, want 2: the second 403, on a fresh token, is remembered as the policy's", fa.refusals)
		}
	})
	t.Run("a token obtained within the Mount is not replaced", func(t *testing.T) {
		fv := newFakeVault(t)
		fa := &fakeAuth{}
		p := newProvider(t, Config{}, fa)
		_, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, "- {objectName: x, secretPath: secret/denied, secretKey: k}\n", nil), "/t", "420")
		var se *secrets.Error
		if !errors.As(err, &se) || se.Status != http.StatusForbidden {
			t.Fatalf("got %v, want 403", err)
		}
		if calls, logins, forgets := fa.stats(); logins != 1 || calls != 1 || forgets != 0 || fa.refusals != 1 {
			t.Errorf("Token calls %d, logins %d, dropped %d, Refused %d; want 1, 1, 0, 1: a fresh token's 403 is the policy's answer",
				calls, logins, forgets, fa.refusals)
		}
	})
	t.Run("404 keeps the token", func(t *testing.T) {
		fv := newFakeVault(t)
		fa := &fakeAuth{}
		p := newProvider(t, Config{}, fa)
		_, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, "- {objectName: x, secretPath: secret/nope, secretKey: k}\n", nil), "/t", "420")
		var se *secrets.Error
		if !errors.As(err, &se) || se.Status != http.StatusNotFound {
			t.Fatalf("got %v, want 404", err)
		}
		if calls, _, forgets := fa.stats(); calls != 1 || forgets != 0 || fa.refusals != 0 {
			t.Errorf("Token calls %d, dropped %d, Refused %d; want 1, 0, 0", calls, forgets, fa.refusals)
		}
	})
}

func TestMountFailsWhole(t *testing.T) {
	good := "- {objectName: user, secretPath: secret/db, secretKey: username}\n"
	tests := []struct {
		name  string
		bad   string
		check func(t *testing.T, err error)
	}{
		{"missing secret", "- {objectName: other, secretPath: secret/missing, secretKey: k}\n", func(t *testing.T, err error) {
			var se *secrets.Error
			if !errors.As(err, &se) || se.Status != 404 {
				t.Errorf("want a 404 *secrets.Error, got %v", err)
			}
		}},
		{"missing key", "- {objectName: other, secretPath: secret/api, secretKey: nope}\n", func(t *testing.T, err error) {
			var ce *ContentError
			if !errors.As(err, &ce) || ce.Index != 1 || !strings.Contains(err.Error(), "objects[1]") || !strings.Contains(err.Error(), "[key]") {
				t.Errorf("want *ContentError for objects[1] naming the keys, got %v", err)
			}
			if strings.Contains(err.Error(), "k-1") {
				t.Errorf("error leaks a value: %v", err)
			}
		}},
		{"bad encoding of the value", "- {objectName: other, secretPath: secret/api, secretKey: key, encoding: base64}\n", func(t *testing.T, err error) {
			var ce *ContentError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), "base64") {
				t.Errorf("want *ContentError about base64, got %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			p := newProvider(t, Config{}, &fakeAuth{})
			res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, good+tc.bad, nil), "/t", "420")
			if err == nil || res != nil {
				t.Fatalf("Mount = %+v, %v; want no result and an error", res, err)
			}
			tc.check(t, err)
		})
	}
}

func TestMountSizeCap(t *testing.T) {
	objs := "- {objectName: user, secretPath: secret/db, secretKey: username}\n" + // 3 bytes
		"- {objectName: password, secretPath: secret/db, secretKey: password}\n" // 4 bytes
	// Each file counts its contents, twice its name and the framing.
	user, password := 3+FileOverhead("user"), 4+FileOverhead("password")
	tests := []struct {
		limit   int
		wantErr bool
	}{{user + password, false}, {user + password - 1, true}, {user - 1, true}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			fv := newFakeVault(t)
			p := newProvider(t, Config{MaxResponseBytes: tc.limit}, &fakeAuth{})
			res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, objs, nil), "/t", "420")
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Mount at limit %d: %v", tc.limit, err)
				}
				return
			}
			var ze *SizeError
			if !errors.As(err, &ze) || ze.Limit != tc.limit || res != nil {
				t.Fatalf("got %v, %v; want *SizeError with limit %d", res, err, tc.limit)
			}
			wantObj := "password"
			if tc.limit < user {
				wantObj = "user"
			}
			if ze.Object != wantObj || !strings.Contains(err.Error(), fmt.Sprintf("%d bytes", tc.limit)) {
				t.Errorf("error %v names %q, want %q", err, ze.Object, wantObj)
			}
		})
	}
}

func TestMountDefaultSizeCap(t *testing.T) {
	p := newProvider(t, Config{}, &fakeAuth{})
	if p.cfg.MaxResponseBytes != 4<<20 || p.cfg.ObjectConcurrency != 8 {
		t.Errorf("defaults = %+v", p.cfg)
	}
}

func TestMountAuthFailure(t *testing.T) {
	fv := newFakeVault(t)
	denied := &auth.Error{Kind: auth.KindDenied, Err: errors.New("Vault refused the kubernetes login")}
	fa := &fakeAuth{err: denied}
	p := newProvider(t, Config{}, fa)
	res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, mixedObjects, nil), "/t", "420")
	var ae *auth.Error
	if !errors.As(err, &ae) || ae != denied || res != nil {
		t.Fatalf("got %v, %v; want the auth error", res, err)
	}
	if n := len(fv.requests()); n != 0 {
		t.Errorf("Vault got %d requests without a token", n)
	}
}

func TestMountVaultAddress(t *testing.T) {
	fv := newFakeVault(t)
	objs := "- {objectName: user, secretPath: secret/db, secretKey: username}\n"

	fa := &fakeAuth{}
	p := newProvider(t, Config{DefaultVaultAddress: fv.srv.URL}, fa)
	if _, err := p.Mount(context.Background(), attributes(t, "", objs, nil), "/t", "420"); err != nil {
		t.Fatalf("Mount with the default address: %v", err)
	}
	if fa.addrs[0] != fv.srv.URL || fa.reqs[0].VaultAddress != fv.srv.URL {
		t.Errorf("used %s / %s, want the default %s", fa.addrs[0], fa.reqs[0].VaultAddress, fv.srv.URL)
	}

	// The SecretProviderClass's address wins over the default.
	other := newFakeVault(t)
	if _, err := p.Mount(context.Background(), attributes(t, other.srv.URL, objs, nil), "/t", "420"); err != nil {
		t.Fatal(err)
	}
	if len(other.requests()) == 0 || fa.reqs[1].VaultAddress != other.srv.URL {
		t.Errorf("the SecretProviderClass's vaultAddress was not used")
	}

	p2 := newProvider(t, Config{}, &fakeAuth{})
	_, err := p2.Mount(context.Background(), attributes(t, "", objs, nil), "/t", "420")
	var pe *params.Error
	if !errors.As(err, &pe) || pe.Parameter != "vaultAddress" || !strings.Contains(err.Error(), "--vault-addr") {
		t.Fatalf("got %v, want a vaultAddress parameter error", err)
	}
}

func TestMountParameterErrorStopsEarly(t *testing.T) {
	fv := newFakeVault(t)
	fa := &fakeAuth{}
	p := newProvider(t, Config{}, fa)
	_, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, "- {objectName: ../x, secretPath: secret/db}\n", nil), "/t", "420")
	var pe *params.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want *params.Error", err)
	}
	if calls, _, _ := fa.stats(); calls != 0 || len(fv.requests()) != 0 {
		t.Errorf("a parameter error still reached auth (%d) or Vault (%d)", calls, len(fv.requests()))
	}
}

func TestMountAuthRequest(t *testing.T) {
	fv := newFakeVault(t)
	objs := "- {objectName: user, secretPath: secret/db, secretKey: username}\n"
	t.Run("kubernetes", func(t *testing.T) {
		fa := &fakeAuth{}
		p := newProvider(t, Config{}, fa)
		if _, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, objs, map[string]string{"vaultAuthMountPath": "k8s-east"}), "/t", "420"); err != nil {
			t.Fatal(err)
		}
		r := fa.reqs[0]
		if r.VaultAddress != fv.srv.URL || r.VaultNamespace != "team-a" || r.Method != "kubernetes" || r.MountPath != "k8s-east" ||
			r.Role != "app" || r.Audience != "vault" {
			t.Errorf("auth request = %+v", r)
		}
		if r.Pod != (auth.Pod{Namespace: "shop", Name: "web-0", UID: "uid-1", ServiceAccount: "web"}) {
			t.Errorf("pod = %+v", r.Pod)
		}
		tok, ok := r.Tokens["vault"]
		if !ok || len(r.Tokens) != 1 || tok.Token != "sa-jwt" || !tok.Expires.Equal(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)) {
			t.Errorf("tokens = %+v", r.Tokens)
		}
	})
	t.Run("azure", func(t *testing.T) {
		fa := &fakeAuth{}
		p := newProvider(t, Config{}, fa)
		extra := map[string]string{
			"vaultAuthMethod": "azure", "azureIdentity": "managed", "clientID": "11111111-2222-3333-4444-555555555555",
			"tenantID": "contoso.onmicrosoft.com", "azureResource": "https://vault.example.com/", "azureVMMetadata": "true", "audience": "",
		}
		if _, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, objs, extra), "/t", "420"); err != nil {
			t.Fatal(err)
		}
		r := fa.reqs[0]
		want := azure.Params{Identity: "managed", ClientID: "11111111-2222-3333-4444-555555555555", TenantID: "contoso.onmicrosoft.com",
			Resource: "https://vault.example.com/", VMMetadata: true}
		if got, ok := r.Params.(*azure.Params); r.Method != "azure" || r.MountPath != "azure" || !ok || *got != want {
			t.Errorf("auth request = %+v, want azure at azure with %+v", r, want)
		}
	})
}

func TestMountConcurrent(t *testing.T) {
	fv := newFakeVault(t)
	p := newProvider(t, Config{ObjectConcurrency: 2}, &fakeAuth{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := p.Mount(context.Background(), attributes(t, fv.srv.URL, mixedObjects, nil), "/t", "420")
			if err == nil && len(res.Files) != 5 {
				err = fmt.Errorf("%d files", len(res.Files))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
