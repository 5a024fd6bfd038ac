package vaultfront

import "time"

// LiveTokens returns how many tokens issued by the auth mount at path
// (e.g. "azure") are still valid: tests use it to see whether discarded
// tokens pile up.
func (s *Server) LiveTokens(mountPath string) int {
	now := time.Now()
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	n := 0
	for _, t := range s.tokens.byID {
		if t.path == "auth/"+mountPath+"/login" && (t.expires.IsZero() || now.Before(t.expires)) {
			n++
		}
	}
	return n
}

// TokenValid reports whether the token exists and has not expired.
func (s *Server) TokenValid(id string) bool {
	_, ok, _ := s.tokens.get(id, time.Now())
	return ok
}
