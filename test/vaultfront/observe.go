package vaultfront

import (
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request is what an observer (SetObserver) learns about one request.
type Request struct {
	Method string
	// Path is keyed like Stats.ByPath: namespace-relative, prefixed by the
	// namespace outside the root namespace.
	Path string
	// Policies of the request's token when it arrived; nil for no or an
	// unknown token, ["root"] for the root token.
	Policies []string
	// Status is the HTTP status of the answer (0 if none was written).
	Status int
	// Faulted: answered by an injected fault.
	Faulted bool
	// Start and End are when the request arrived and when it was answered.
	Start, End time.Time
}

// observation holds the observer and what the server records for tests
// that look for leaked credentials.
type observation struct {
	mu       sync.Mutex
	observer func(Request)
	jwts     []string
}

// SetObserver calls f after every request with what was asked and answered;
// nil stops observing. f runs on the request's goroutine and must be safe
// for concurrent use.
func (s *Server) SetObserver(f func(Request)) {
	s.observed.mu.Lock()
	s.observed.observer = f
	s.observed.mu.Unlock()
}

// IssuedTokens returns every token the server has minted since it started,
// including revoked, expired and forgotten ones (not the root token).
func (s *Server) IssuedTokens() []string {
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	return slices.Clone(s.tokens.issued)
}

// LoginJWTs returns the "jwt" values presented to auth/<mount>/login since
// the server started: Azure access tokens, service-account tokens.
func (s *Server) LoginJWTs() []string {
	s.observed.mu.Lock()
	defer s.observed.mu.Unlock()
	return slices.Clone(s.observed.jwts)
}

// noteLogin records the credential of a login request.
func (s *Server) noteLogin(data map[string]interface{}) {
	jwt, ok := data["jwt"].(string)
	if !ok || jwt == "" {
		return
	}
	s.observed.mu.Lock()
	s.observed.jwts = append(s.observed.jwts, jwt)
	s.observed.mu.Unlock()
}

// observe wraps w to report the request to the observer, if one is set:
// call done with whether an injected fault answered it, after answering.
func (s *Server) observe(w http.ResponseWriter, rc *reqCtx) (http.ResponseWriter, func(faulted bool)) {
	s.observed.mu.Lock()
	f := s.observed.observer
	s.observed.mu.Unlock()
	if f == nil {
		return w, func(bool) {}
	}
	policies := s.tokens.policiesOf(rc.token, time.Now())
	if rc.token != "" && rc.token == s.rootToken {
		policies = []string{"root"}
	}
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
	return sw, func(faulted bool) {
		f(Request{Method: rc.r.Method, Path: rc.statsKey(), Policies: policies, Status: sw.status, Faulted: faulted, Start: start, End: time.Now()})
	}
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// policiesOf returns the policies of a live token, or nil, without the side
// effects of get (which reaps an expired token).
func (ts *tokenStore) policiesOf(id string, now time.Time) []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.byID[id]
	if t == nil || (!t.expires.IsZero() && !now.Before(t.expires)) {
		return nil
	}
	return slices.Clone(t.policies)
}
