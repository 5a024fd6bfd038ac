package provider

import (
	"fmt"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// cacheStep is one operation on a secretCache: put key, get key (expecting
// a hit or a miss), or advance the clock; wantLen, if not -1, is the number
// of entries afterwards.
type cacheStep struct {
	op      string // put, get, advance
	key     string
	d       time.Duration
	wantHit bool
	wantLen int
}

func TestSecretCache(t *testing.T) {
	const ttl = time.Minute
	put := func(k string, n int) cacheStep { return cacheStep{op: "put", key: k, wantLen: n} }
	hit := func(k string) cacheStep { return cacheStep{op: "get", key: k, wantHit: true, wantLen: -1} }
	miss := func(k string) cacheStep { return cacheStep{op: "get", key: k, wantLen: -1} }
	adv := func(d time.Duration) cacheStep { return cacheStep{op: "advance", d: d, wantLen: -1} }
	tests := []struct {
		name  string
		max   int
		steps []cacheStep
	}{
		{"miss before put", 4, []cacheStep{miss("a"), put("a", 1), hit("a"), miss("b")}},
		{"fresh until just before the TTL", 4, []cacheStep{put("a", 1), adv(ttl - time.Nanosecond), hit("a")}},
		{"expired at the TTL and dropped", 4, []cacheStep{put("a", 1), adv(ttl), miss("a"), {op: "get", key: "zz", wantLen: 0}}},
		{"full: the oldest goes first", 2, []cacheStep{put("a", 1), put("b", 2), put("c", 2), miss("a"), hit("b"), hit("c")}},
		{"put again refreshes and reorders", 2, []cacheStep{
			put("a", 1), adv(ttl / 2), put("b", 2), put("a", 2), put("c", 2), miss("b"), hit("a"), hit("c"),
			adv(ttl/2 + time.Nanosecond), hit("a"), adv(ttl / 2), miss("a"), miss("c")}},
		{"expired entries make room before live ones are evicted", 2, []cacheStep{
			put("a", 1), adv(ttl / 2), put("b", 2), adv(ttl / 2), put("c", 2), miss("a"), hit("b"), hit("c")}},
		{"a put drops every expired entry", 8, []cacheStep{put("a", 1), put("b", 2), put("c", 3), adv(ttl), put("d", 1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			c := newSecretCache(ttl, tc.max, 0, clock.now)
			for i, st := range tc.steps {
				switch st.op {
				case "put":
					c.put(st.key, &vault.Secret{Data: map[string]any{"k": st.key}})
				case "advance":
					clock.advance(st.d)
				case "get":
					s, ok := c.get(st.key)
					if ok != st.wantHit {
						t.Fatalf("step %d: get %q hit = %v, want %v", i, st.key, ok, st.wantHit)
					}
					if ok && s.Data["k"] != st.key {
						t.Fatalf("step %d: get %q returned the secret of %v", i, st.key, s.Data["k"])
					}
				}
				if st.wantLen >= 0 {
					if got := c.len(); got != st.wantLen {
						t.Fatalf("step %d (%s %s): %d entries, want %d", i, st.op, st.key, got, st.wantLen)
					}
				}
			}
		})
	}
}

func TestReadKey(t *testing.T) {
	const token = "hvs.very-secret-token"
	base := readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a", token),
		secrets.Request{Method: "GET", Path: "secret/db", Args: map[string]any{"a": 1, "b": "x"}}.Key())
	tests := []struct {
		name     string
		key      string
		wantSame bool
	}{
		{"identical", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a", token),
			secrets.Request{Method: "GET", Path: "secret/db", Args: map[string]any{"b": "x", "a": 1}}.Key()), true},
		{"other address", readKey(readScope("https://vault2:8200", `{"ca":""}`, "team-a", token),
			secrets.Request{Method: "GET", Path: "secret/db", Args: map[string]any{"a": 1, "b": "x"}}.Key()), false},
		{"other TLS connection", readKey(readScope("https://vault:8200", `{"ca":"x"}`, "team-a", token),
			secrets.Request{Method: "GET", Path: "secret/db", Args: map[string]any{"a": 1, "b": "x"}}.Key()), false},
		{"other namespace", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-b", token),
			secrets.Request{Method: "GET", Path: "secret/db", Args: map[string]any{"a": 1, "b": "x"}}.Key()), false},
		{"other token", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a", token+"2"),
			secrets.Request{Method: "GET", Path: "secret/db", Args: map[string]any{"a": 1, "b": "x"}}.Key()), false},
		{"other method", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a", token),
			secrets.Request{Method: "POST", Path: "secret/db", Args: map[string]any{"a": 1, "b": "x"}}.Key()), false},
		{"other path", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a", token),
			secrets.Request{Method: "GET", Path: "secret/db2", Args: map[string]any{"a": 1, "b": "x"}}.Key()), false},
		{"other args", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a", token),
			secrets.Request{Method: "GET", Path: "secret/db", Args: map[string]any{"a": 2, "b": "x"}}.Key()), false},
		{"path cannot run into args", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a", token),
			secrets.Request{Method: "GET", Path: `secret/db5:{"a":1,"b":"x"}`}.Key()), false},
		{"no args differs from empty args", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a", token),
			secrets.Request{Method: "GET", Path: "secret/db", Args: map[string]any{}}.Key()), false},
		{"path and namespace cannot run together", readKey(readScope("https://vault:8200", `{"ca":""}`, "team-a|secret", token),
			secrets.Request{Method: "GET", Path: "db", Args: map[string]any{"a": 1, "b": "x"}}.Key()), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.key == base) != tc.wantSame {
				t.Errorf("key equal = %v, want %v:\n%s\n%s", tc.key == base, tc.wantSame, tc.key, base)
			}
			if strings.Contains(tc.key, "very-secret") {
				t.Errorf("key contains the token: %s", tc.key)
			}
		})
	}
}

func TestCacheable(t *testing.T) {
	tests := []struct {
		name string
		s    *vault.Secret
		want bool
	}{
		{"KV secret", &vault.Secret{Data: map[string]any{"k": "v"}}, true},
		{"KV v1 with a TTL but no lease", &vault.Secret{LeaseDuration: 3600, Data: map[string]any{"k": "v"}}, true},
		{"dynamic secret with a lease", &vault.Secret{LeaseID: "database/creds/app/abc", LeaseDuration: 3600, Data: map[string]any{"username": "u"}}, false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cacheable(tc.s); got != tc.want {
				t.Errorf("cacheable = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSecretCacheBoundedByBytes: large answers push out others to stay
// within the byte bound; one over an eighth of it is not kept.
func TestSecretCacheBoundedByBytes(t *testing.T) {
	c := newSecretCache(time.Minute, 1000, 100<<10, time.Now)
	big := func(n int) *vault.Secret {
		return &vault.Secret{Data: map[string]any{"v": strings.Repeat("x", n)}}
	}
	for i := range 100 {
		c.put(fmt.Sprint("k", i), big(10<<10))
		if c.bytes > 100<<10 {
			t.Fatalf("after %d puts the cache holds %d bytes, over its 100 KiB", i+1, c.bytes)
		}
	}
	if n := c.len(); n < 5 || n > 10 {
		t.Errorf("%d entries of 10 KiB kept in 100 KiB", n)
	}
	c.put("huge", big(20<<10))
	if _, ok := c.get("huge"); ok {
		t.Error("an answer over an eighth of the bound was kept")
	}
}
