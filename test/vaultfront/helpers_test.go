package vaultfront

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/api"
)

// newTestServer starts a server that is closed when the test ends.
func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newClient returns a Vault API client for s with the given token and
// namespace, with retries disabled so status codes are seen as they are.
func newClient(t *testing.T, s *Server, token, ns string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr()
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("api.NewClient: %v", err)
	}
	c.SetToken(token)
	if ns != "" {
		c.SetNamespace(ns)
	}
	return c
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// statusOf returns the HTTP status of an API error, or 0.
func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// wantStatus fails unless err is an API error with the given status.
func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	if got := statusOf(err); got != status {
		t.Fatalf("want HTTP %d (%s), got %d: %v", status, http.StatusText(status), got, err)
	}
}

// createToken makes a token with policies and options through the API.
func createToken(t *testing.T, root *api.Client, req *api.TokenCreateRequest) string {
	t.Helper()
	sec, err := root.Auth().Token().Create(req)
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		t.Fatalf("create token: no auth in %+v", sec)
	}
	return sec.Auth.ClientToken
}
