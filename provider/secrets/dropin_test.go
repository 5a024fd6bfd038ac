package secrets

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSendPutsTheQueryInTheURLAndArgsInTheBody, whatever the method, as
// HashiCorp's provider does.
func TestSendPutsTheQueryInTheURLAndArgsInTheBody(t *testing.T) {
	fv := newFakeVault(t)
	fv.secrets["secret/data/app"] = kvData(map[string]any{"k": "v2"})
	fv.secrets["transit/encrypt/app"] = kvData(map[string]any{"ciphertext": "vault:v1:x"})
	r := NewReader()
	c := fv.client(t, "")
	reqs := []Request{
		{Method: http.MethodGet, Path: "secret/data/app", Query: url.Values{"version": {"2"}}},
		{Method: http.MethodGet, Path: "secret/data/app", Args: map[string]any{"x": "y"}},
		{Method: http.MethodPost, Path: "transit/encrypt/app", Query: url.Values{"a": {"1", "2"}},
			Args: map[string]any{"batch_input": []any{map[string]any{"plaintext": "aGk="}}}},
	}
	for _, req := range reqs {
		if _, err := r.Send(context.Background(), c, req); err != nil {
			t.Fatalf("%s: %v", req, err)
		}
	}
	got := fv.requests()
	if len(got) != 3 {
		t.Fatalf("requests = %+v", got)
	}
	if got[0].Method != "GET" || got[0].Path != "/v1/secret/data/app" || got[0].Query != "version=2" || len(got[0].Body) != 0 {
		t.Errorf("GET with query sent as %+v", got[0])
	}
	if got[1].Method != "GET" || got[1].Query != "" || got[1].Body["x"] != "y" {
		t.Errorf("GET with secretArgs sent as %+v", got[1])
	}
	batch, _ := got[2].Body["batch_input"].([]any)
	if got[2].Method != "POST" || got[2].Query != "a=1&a=2" || len(batch) != 1 {
		t.Errorf("POST with query and nested args sent as %+v", got[2])
	}
}

// TestResolveRewritesOnlyBareKVv2Paths: KV v2's own API paths stay as
// written; only a bare path on a KV v2 mount gains data/.
func TestResolveRewritesOnlyBareKVv2Paths(t *testing.T) {
	tests := map[string]string{
		"secret/app":          "secret/data/app",
		"secret/a/b":          "secret/data/a/b",
		"secret/data/app":     "secret/data/app",
		"secret/metadata/app": "secret/metadata/app",
		"secret/subkeys/app":  "secret/subkeys/app",
		"secret/config":       "secret/config",
		"secret/dataset/x":    "secret/data/dataset/x",
		"secret":              "secret",
		"kv1/app":             "kv1/app",
		"kv1/data/app":        "kv1/data/app",
	}
	fv := newFakeVault(t)
	r := NewReader()
	for in, want := range tests {
		got, err := r.Resolve(context.Background(), fv.client(t, ""), Via{}, Request{Method: http.MethodGet, Path: in, Query: url.Values{"version": {"1"}}})
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got.Path != want || got.Query.Get("version") != "1" {
			t.Errorf("Resolve(%s) = %s, want %s (query kept)", in, got, want)
		}
	}
	post, _ := r.Resolve(context.Background(), fv.client(t, ""), Via{}, Request{Method: http.MethodPost, Path: "secret/app"})
	if post.Path != "secret/app" {
		t.Errorf("a POST was rewritten to %s", post.Path)
	}
}

// TestMountLookupsAreSharedAndCached: concurrent resolutions under one
// mount make one lookup; a path under another mount with the same first
// segment gets its own; later resolutions use the cache.
func TestMountLookupsAreSharedAndCached(t *testing.T) {
	fv := newFakeVault(t)
	fv.mounts["team/other/"] = map[string]any{"type": "kv", "options": map[string]any{"version": "1"}}
	fv.mountGate = make(chan struct{})
	r := NewReader()
	c := fv.client(t, "")
	paths := []string{"team/other/x"}
	for i := range 10 {
		paths = append(paths, "team/kv/app"+string(rune('0'+i)))
	}
	results := make([]string, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := r.Resolve(context.Background(), c, Via{}, Request{Method: http.MethodGet, Path: p})
			if err != nil {
				t.Error(err)
			}
			results[i] = got.Path
		}()
	}
	waitFor(t, func() bool { return countPrefix(fv, "/v1/sys/internal/ui/mounts/") >= 1 })
	time.Sleep(20 * time.Millisecond) // let the others join the lookup in flight
	close(fv.mountGate)
	wg.Wait()
	if results[0] != "team/other/x" {
		t.Errorf("team/other/x resolved to %s", results[0])
	}
	for i, got := range results[1:] {
		if want := "team/kv/data/app" + string(rune('0'+i)); got != want {
			t.Errorf("resolved to %s, want %s", got, want)
		}
	}
	if n := countPrefix(fv, "/v1/sys/internal/ui/mounts/"); n != 2 {
		t.Errorf("mount lookups = %d, want 2 (one per mount): %+v", n, fv.requests())
	}
	if _, err := r.Resolve(context.Background(), c, Via{}, Request{Method: http.MethodGet, Path: "team/kv/z"}); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(fv, "/v1/sys/internal/ui/mounts/"); n != 2 {
		t.Errorf("mount lookups after a cached resolution = %d, want 2", n)
	}
}

// TestMountCacheLongestMatchAndBound: of two cached mounts that both
// prefix a path, the longer serves it (Vault refuses to create a mount
// inside another, but a remount or a namespace could leave the cache
// knowing both); the cache holds at most its size.
func TestMountCacheLongestMatchAndBound(t *testing.T) {
	fv := newFakeVault(t)
	fv.mounts["nest/"] = map[string]any{"type": "kv", "options": map[string]any{"version": "1"}}
	fv.mounts["nest/inner/"] = map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}
	r := NewReader(WithMountCacheSize(2))
	c := fv.client(t, "")
	resolve := func(p string) string {
		t.Helper()
		got, err := r.Resolve(context.Background(), c, Via{}, Request{Method: http.MethodGet, Path: p})
		if err != nil {
			t.Fatal(err)
		}
		return got.Path
	}
	resolve("nest/inner/b")
	resolve("nest/a")
	lookups := countPrefix(fv, "/v1/sys/internal/ui/mounts/")
	if got := resolve("nest/inner/c"); got != "nest/inner/data/c" {
		t.Errorf("nest/inner/c → %s, want the KV v2 mount nest/inner/", got)
	}
	if got := resolve("nest/d"); got != "nest/d" {
		t.Errorf("nest/d → %s, want the KV v1 mount nest/", got)
	}
	if n := countPrefix(fv, "/v1/sys/internal/ui/mounts/"); n != lookups {
		t.Errorf("cached resolutions made %d lookups", n-lookups)
	}
	resolve("secret/x") // a third mount evicts the least recently used
	if r.mounts.mounts.Len() != 2 {
		t.Errorf("cache holds %d mounts, want its size 2", r.mounts.mounts.Len())
	}
}

func countPrefix(fv *fakeVault, prefix string) int {
	n := 0
	for _, rq := range fv.requests() {
		if strings.HasPrefix(rq.Path, prefix) {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
