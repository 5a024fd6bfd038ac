package vaultfront

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFaultEveryAndProbability(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "secret", "kv", nil))
	c := newClient(t, s, s.RootToken(), "")
	_, err := c.Logical().Write("secret/x", map[string]interface{}{"a": "b"})
	must(t, err)

	// Every third read fails; a second fault gets the requests the first lets pass.
	s.ResetStats()
	s.InjectFault(Fault{PathPrefix: "secret/", Status: 503, Every: 3})
	var got []int
	for range 9 {
		_, err := c.Logical().Read("secret/x")
		got = append(got, statusOf(err))
	}
	if want := []int{0, 0, 503, 0, 0, 503, 0, 0, 503}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if st := s.Stats(); st.Faulted != 3 || st.FaultedByPath["secret/x"] != 3 {
		t.Errorf("faulted = %d, by path %v; want 3 on secret/x", st.Faulted, st.FaultedByPath)
	}
	s.ClearFaults()

	// About a tenth of 400 reads fail.
	s.ResetStats()
	s.InjectFault(Fault{PathPrefix: "secret/", Status: 500, Probability: 0.1})
	failed := 0
	for range 400 {
		if _, err := c.Logical().Read("secret/x"); err != nil {
			wantStatus(t, err, 500)
			failed++
		}
	}
	s.ClearFaults()
	if failed < 15 || failed > 70 || int64(failed) != s.Stats().Faulted {
		t.Errorf("%d of 400 failed (stats: %d), want about 40", failed, s.Stats().Faulted)
	}
}

func TestFaultRetryAfter(t *testing.T) {
	s := newTestServer(t)
	s.InjectFault(Fault{PathPrefix: "sys/health", Status: 429, RetryAfter: 1500 * time.Millisecond, Count: 1})
	for i, want := range []string{"2", ""} {
		resp, err := http.Get(s.Addr() + "/v1/sys/health")
		must(t, err)
		resp.Body.Close()
		if got := resp.Header.Get("Retry-After"); got != want {
			t.Errorf("request %d: Retry-After = %q, want %q", i, got, want)
		}
	}
}

func TestIssuedTokensAndLoginJWTs(t *testing.T) {
	s, _, signer := newJWTServer(t)
	c := newClient(t, s, "", "")
	jwt := signer.sign(t, "alice", "vault-test", time.Minute)
	sec, err := c.Logical().Write("auth/jwt/login", map[string]interface{}{"role": "app", "jwt": jwt})
	must(t, err)
	s.RevokeAllTokens()
	tokens := s.IssuedTokens()
	if !slices.Contains(tokens, sec.Auth.ClientToken) || slices.Contains(tokens, s.RootToken()) {
		t.Errorf("IssuedTokens = %d tokens: want the (since forgotten) login token and not the root token", len(tokens))
	}
	for _, tok := range tokens {
		if !strings.HasPrefix(tok, "hvs.") {
			t.Errorf("token %.8q… is not in Vault's hvs. form", tok)
		}
	}
	if got := s.LoginJWTs(); !slices.Equal(got, []string{jwt}) {
		t.Errorf("LoginJWTs has %d values, want the one presented", len(got))
	}
}

func TestObserver(t *testing.T) {
	s, root, signer := newJWTServer(t)
	var mu sync.Mutex
	var seen []Request
	s.SetObserver(func(r Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
	})
	c := newClient(t, s, "", "")
	sec, err := c.Logical().Write("auth/jwt/login", map[string]interface{}{"role": "app", "jwt": signer.sign(t, "bob", "vault-test", time.Minute)})
	must(t, err)
	c.SetToken(sec.Auth.ClientToken)
	_, err = c.Logical().Read("secret/data/other/db")
	wantStatus(t, err, http.StatusForbidden)
	s.InjectFault(Fault{PathPrefix: "secret/", Status: 503, Count: 1})
	_, err = root.Logical().Read("secret/data/app/db")
	wantStatus(t, err, http.StatusServiceUnavailable)
	s.SetObserver(nil)
	_, _ = c.Logical().Read("secret/data/app/db")

	want := []Request{
		{Method: "PUT", Path: "auth/jwt/login", Status: 200},
		{Method: "GET", Path: "secret/data/other/db", Policies: []string{"app", "default"}, Status: 403},
		{Method: "GET", Path: "secret/data/app/db", Policies: []string{"root"}, Status: 503, Faulted: true},
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("observed %d requests, want %d: %+v", len(seen), len(want), seen)
	}
	for i, w := range want {
		g := seen[i]
		slices.Sort(g.Policies)
		if g.Method != w.Method || g.Path != w.Path || !slices.Equal(g.Policies, w.Policies) || g.Status != w.Status || g.Faulted != w.Faulted {
			t.Errorf("request %d = %+v, want %+v", i, g, w)
		}
	}
}
