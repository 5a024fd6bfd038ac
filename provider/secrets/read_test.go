package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

type seen struct {
	Method, Path, Query, Token, Namespace string
	Body                                  map[string]any
}

// fakeVault serves a mount table (for sys/internal/ui/mounts) and secrets,
// and records every request.
type fakeVault struct {
	srv *httptest.Server
	// mounts: mount path ("secret/") → mount description; absent paths get 403
	// on detection, like a token without access to sys/internal/ui/mounts.
	mounts map[string]map[string]any
	// secrets: API path ("secret/data/app") → status and JSON body.
	secrets map[string]func(w http.ResponseWriter, r *http.Request, body map[string]any)
	// mountGate, if set, holds mount lookups until it is closed.
	mountGate chan struct{}

	mu   sync.Mutex
	reqs []seen
}

func newFakeVault(t *testing.T) *fakeVault {
	fv := &fakeVault{
		mounts: map[string]map[string]any{
			"secret/":        {"type": "kv", "options": map[string]any{"version": "2"}},
			"team/kv/":       {"type": "kv", "options": map[string]any{"version": "2"}},
			"kv1/":           {"type": "kv", "options": map[string]any{"version": "1"}},
			"legacy/":        {"type": "generic", "options": nil},
			"pki/":           {"type": "pki", "options": nil},
			"secret-denied/": nil, // detection refused
		},
		secrets: map[string]func(w http.ResponseWriter, r *http.Request, body map[string]any){},
	}
	fv.srv = httptest.NewServer(http.HandlerFunc(fv.serve))
	t.Cleanup(fv.srv.Close)
	return fv
}

func (fv *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &body)
	}
	fv.mu.Lock()
	fv.reqs = append(fv.reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Vault-Token"), r.Header.Get("X-Vault-Namespace"), body})
	fv.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	if rest, ok := strings.CutPrefix(path, "sys/internal/ui/mounts/"); ok {
		if fv.mountGate != nil {
			<-fv.mountGate
		}
		if mp := longestMount(fv.mounts, rest); mp != "" {
			desc := fv.mounts[mp]
			if desc == nil {
				vaultErr(w, http.StatusForbidden, "permission denied")
				return
			}
			d := map[string]any{"path": strings.TrimSuffix(mp, "/"), "accessor": "x"} // without the slash: the code must add it
			for k, v := range desc {
				d[k] = v
			}
			writeJSON(w, http.StatusOK, map[string]any{"data": d})
			return
		}
		vaultErr(w, http.StatusBadRequest, "no mount at "+rest)
		return
	}
	if h, ok := fv.secrets[path]; ok {
		h(w, r, body)
		return
	}
	vaultErr(w, http.StatusNotFound)
}

// longestMount is the mount Vault's router would pick for path.
func longestMount(mounts map[string]map[string]any, path string) string {
	best := ""
	for mp := range mounts {
		if strings.HasPrefix(path+"/", mp) && len(mp) > len(best) {
			best = mp
		}
	}
	return best
}

func (fv *fakeVault) requests() []seen {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	return append([]seen(nil), fv.reqs...)
}

func (fv *fakeVault) count(method, path string) int {
	n := 0
	for _, r := range fv.requests() {
		if (method == "" || r.Method == method) && r.Path == path {
			n++
		}
	}
	return n
}

func (fv *fakeVault) client(t *testing.T, namespace string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = fv.srv.URL
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("reader-token")
	if namespace != "" {
		c.SetNamespace(namespace)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func vaultErr(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": msgs})
}

func kvData(data map[string]any) func(w http.ResponseWriter, r *http.Request, body map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		writeJSON(w, http.StatusOK, map[string]any{"request_id": "r", "data": map[string]any{
			"data": data, "metadata": map[string]any{"version": 1},
		}})
	}
}

func kv1Data(data map[string]any) func(w http.ResponseWriter, r *http.Request, body map[string]any) {
	return func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		writeJSON(w, http.StatusOK, map[string]any{"request_id": "r", "lease_duration": 2764800, "data": data})
	}
}

func TestReadPathResolution(t *testing.T) {
	tests := []struct {
		name          string
		path          string
		wantRead      string // API path of the read
		wantDetection bool
	}{
		{"KV v2 path without data/", "secret/app", "secret/data/app", true},
		{"KV v2 nested path without data/", "secret/team/app", "secret/data/team/app", true},
		{"KV v2 path with data/", "secret/data/app", "secret/data/app", true},
		{"KV v2 mount at a nested path", "team/kv/app", "team/kv/data/app", true},
		{"KV v1 path unchanged", "kv1/app", "kv1/app", true},
		{"generic mount without version is v1", "legacy/app", "legacy/app", true},
		{"detection refused (403): path as written", "secret-denied/app", "secret-denied/app", true},
		{"detection fails (no mount): path as written", "nomount/app", "nomount/app", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			fv.secrets[tc.wantRead] = kvData(map[string]any{"password": "pw-" + tc.wantRead})
			r := NewReader()
			s, err := r.Read(context.Background(), fv.client(t, ""), Via{}, Request{Method: http.MethodGet, Path: tc.path})
			if err != nil {
				t.Fatalf("Read(%s): %v", tc.path, err)
			}
			got, err := Content(s, params.Object{SecretKey: "password"})
			if err != nil || string(got) != "pw-"+tc.wantRead {
				t.Errorf("read %q (%v), want the secret at %s", got, err, tc.wantRead)
			}
			if n := fv.count(http.MethodGet, "/v1/sys/internal/ui/mounts/"+tc.path); (n == 1) != tc.wantDetection {
				t.Errorf("detection requests for %s = %d", tc.path, n)
			}
			if n := fv.count(http.MethodGet, "/v1/"+tc.wantRead); n != 1 {
				t.Errorf("reads of %s = %d, want 1; requests: %+v", tc.wantRead, n, fv.requests())
			}
			for _, rq := range fv.requests() {
				if rq.Token != "reader-token" {
					t.Errorf("%s %s sent token %q, want the client's", rq.Method, rq.Path, rq.Token)
				}
			}
		})
	}
}

func TestReadMountInfoCached(t *testing.T) {
	fv := newFakeVault(t)
	fv.secrets["secret/data/a"] = kvData(map[string]any{"k": "a"})
	fv.secrets["secret/data/b"] = kvData(map[string]any{"k": "b"})
	fv.secrets["kv1/c"] = kv1Data(map[string]any{"k": "c"})
	r := NewReader()
	c := fv.client(t, "")
	for _, p := range []string{"secret/a", "secret/b", "secret/a", "kv1/c", "kv1/c"} {
		if _, err := r.Read(context.Background(), c, Via{}, Request{Method: http.MethodGet, Path: p}); err != nil {
			t.Fatalf("Read(%s): %v", p, err)
		}
	}
	detections := 0
	for _, rq := range fv.requests() {
		if strings.HasPrefix(rq.Path, "/v1/sys/internal/ui/mounts/") {
			detections++
		}
	}
	if detections != 2 {
		t.Errorf("detection requests = %d, want 2 (one per mount)", detections)
	}

	// Another namespace has its own mount table.
	fv.secrets["secret/data/a"] = kvData(map[string]any{"k": "a"})
	if _, err := r.Read(context.Background(), fv.client(t, "team-a"), Via{}, Request{Method: http.MethodGet, Path: "secret/a"}); err != nil {
		t.Fatal(err)
	}
	last := fv.requests()
	var nsDetect bool
	for _, rq := range last {
		if rq.Namespace == "team-a" && rq.Path == "/v1/sys/internal/ui/mounts/secret/a" {
			nsDetect = true
		}
	}
	if !nsDetect {
		t.Errorf("no detection in namespace team-a: %+v", last)
	}
}

func TestReadWithArgs(t *testing.T) {
	for _, method := range []string{http.MethodPost, http.MethodPut} {
		t.Run(method, func(t *testing.T) {
			fv := newFakeVault(t)
			fv.secrets["pki/issue/web"] = func(w http.ResponseWriter, r *http.Request, body map[string]any) {
				writeJSON(w, http.StatusOK, map[string]any{"lease_id": "pki/issue/web/1", "data": map[string]any{"certificate": "CERT for " + body["common_name"].(string)}})
			}
			args := map[string]any{"common_name": "web.example.com", "ttl": "10m", "alt_names": "a.example.com,b.example.com"}
			s, err := NewReader().Read(context.Background(), fv.client(t, ""), Via{}, Request{Method: method, Path: "pki/issue/web", Args: args})
			if err != nil {
				t.Fatal(err)
			}
			if s.Data["certificate"] != "CERT for web.example.com" {
				t.Errorf("data = %v", s.Data)
			}
			rs := fv.requests()
			if len(rs) != 1 {
				t.Fatalf("requests = %+v, want only the write (no KV detection for writes)", rs)
			}
			if gotBody := rs[0].Body; len(gotBody) != len(args) {
				t.Errorf("body = %v, want %v", gotBody, args)
			}
			for k, v := range args {
				if rs[0].Body[k] != v {
					t.Errorf("body[%s] = %v, want %v", k, rs[0].Body[k], v)
				}
			}
			if rs[0].Method != http.MethodPut && rs[0].Method != http.MethodPost {
				t.Errorf("HTTP method %s, want PUT or POST", rs[0].Method)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	deleted := func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		// KV v2's answer for a deleted version: 404 with metadata.
		writeJSON(w, http.StatusNotFound, map[string]any{"data": map[string]any{"data": nil, "metadata": map[string]any{
			"version": 2, "deletion_time": "2030-01-01T00:00:00Z", "destroyed": false,
		}}})
	}
	tests := []struct {
		name       string
		req        Request
		handler    func(w http.ResponseWriter, r *http.Request, body map[string]any)
		apiPath    string
		wantStatus int
		want       []string
	}{
		{"missing KV v2 secret", Request{Method: "GET", Path: "secret/missing"}, nil, "secret/data/missing", 404,
			[]string{"GET secret/data/missing", "HTTP 404", "no secret at this path"}},
		{"deleted KV v2 version", Request{Method: "GET", Path: "secret/gone"}, deleted, "secret/data/gone", 404,
			[]string{"HTTP 404", "current version"}},
		{"denied", Request{Method: "GET", Path: "secret/data/db"}, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			vaultErr(w, http.StatusForbidden, "1 error occurred:\n\t* permission denied\n\n")
		}, "secret/data/db", 403, []string{"HTTP 403", "permission denied", "policy path needs data/"}},
		{"sealed", Request{Method: "GET", Path: "kv1/db"}, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			vaultErr(w, http.StatusServiceUnavailable, "Vault is sealed")
		}, "kv1/db", 503, []string{"HTTP 503", "Vault is sealed", "sealed or unavailable"}},
		{"error without message", Request{Method: "GET", Path: "kv1/db"}, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			vaultErr(w, http.StatusBadRequest)
		}, "kv1/db", 400, []string{"HTTP 400", "Bad Request"}},
		{"write to a missing path", Request{Method: "POST", Path: "pki/issue/nope", Args: map[string]any{"common_name": "x"}}, nil, "pki/issue/nope", 404,
			[]string{"POST pki/issue/nope", "HTTP 404"}},
		{"write refused", Request{Method: "PUT", Path: "pki/issue/web", Args: map[string]any{"common_name": "evil.example.com"}}, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			vaultErr(w, http.StatusBadRequest, `common name evil.example.com not allowed by this role`)
		}, "pki/issue/web", 400, []string{"PUT pki/issue/web", "HTTP 400", "not allowed by this role"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			if tc.handler != nil {
				fv.secrets[tc.apiPath] = tc.handler
			}
			s, err := NewReader().Read(context.Background(), fv.client(t, ""), Via{}, tc.req)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Read = %v, %v; want *secrets.Error", s, err)
			}
			if se.Status != tc.wantStatus || se.Path != tc.apiPath || se.Method != tc.req.Method {
				t.Errorf("error = %+v, want status %d path %s method %s", se, tc.wantStatus, tc.apiPath, tc.req.Method)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, err)
				}
			}
			if strings.ContainsAny(err.Error(), "\n\t") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestReadUnreachable(t *testing.T) {
	fv := newFakeVault(t)
	c := fv.client(t, "")
	fv.srv.Close()
	_, err := NewReader().Read(context.Background(), c, Via{}, Request{Method: "GET", Path: "secret/data/db"})
	var se *Error
	if !errors.As(err, &se) || se.Status != 0 {
		t.Fatalf("got %v, want *secrets.Error with Status 0", err)
	}
	if !strings.Contains(err.Error(), "Vault request GET secret/data/db failed") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error = %v", err)
	}
}

func TestRequestFor(t *testing.T) {
	o := params.Object{ObjectName: "crt", SecretPath: "pki/issue/web", SecretKey: "certificate", Method: "POST",
		SecretArgs: map[string]any{"common_name": "x"}, Encoding: "utf-8", FilePermission: 0o600}
	r := RequestFor(o)
	if r.Method != "POST" || r.Path != "pki/issue/web" || r.Args["common_name"] != "x" || len(r.Args) != 1 {
		t.Errorf("RequestFor = %+v", r)
	}
	// Objects differing only in key, name, encoding or mode share a request.
	o2 := o
	o2.ObjectName, o2.SecretKey, o2.Encoding, o2.FilePermission = "key", "private_key", "base64", 0o644
	a, _ := json.Marshal(RequestFor(o))
	b, _ := json.Marshal(RequestFor(o2))
	if string(a) != string(b) {
		t.Errorf("requests differ: %s vs %s", a, b)
	}
}
