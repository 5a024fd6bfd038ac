package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func mustLease(t *testing.T, m *Manager, fv *fakeVault, req *Request) *Lease {
	t.Helper()
	l, err := m.Token(context.Background(), fv.client(), req)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return l
}

// TestManagerRefused: a 403 on a token just obtained is the policy's
// answer, remembered per path, and never a reason to log in again; a 403 on
// a cached token at another path drops that token (only if it is still the
// cached one) and revokes it.
func TestManagerRefused(t *testing.T) {
	const denied, other = "GET secret/data/denied", "GET secret/data/other"
	fv := newFakeVault(t)
	m := newTestManager(&fakeMethod{}, Options{}, nil)
	req := testRequest(fv.srv.URL)

	first := mustLease(t, m, fv, req)
	if !first.Fresh {
		t.Fatal("the token of a login is not fresh")
	}
	if m.Refused(first, denied) {
		t.Error("a 403 on a token obtained within this call asks for a new login")
	}
	cached := mustLease(t, m, fv, req)
	if cached.Fresh || cached.Token != first.Token {
		t.Fatalf("second call: %+v, want the cached token, not fresh", cached)
	}
	for range 100 {
		if m.Refused(cached, denied) {
			t.Fatal("a path refused while the token was fresh asks for a new login")
		}
	}
	if fv.logins.Load() != 1 || fv.revocations.Load() != 0 {
		t.Errorf("logins %d, revocations %d after 100 known refusals; want 1 and 0", fv.logins.Load(), fv.revocations.Load())
	}

	// A refusal elsewhere may mean a dead token: drop, revoke, log in again.
	if !m.Refused(cached, other) {
		t.Fatal("a 403 on a cached token at a new path does not ask for a new token")
	}
	if got := fv.revokedTokens(1); !slices.Equal(got, []string{first.Token}) {
		t.Errorf("revoke-self calls carried %q, want the dropped token %q", got, first.Token)
	}
	second := mustLease(t, m, fv, req)
	if second.Token == first.Token || !second.Fresh || fv.logins.Load() != 2 {
		t.Fatalf("after the drop: %+v, logins %d; want a fresh new token", second, fv.logins.Load())
	}

	// Compare and delete: a caller still holding the old token does not
	// drop the new one, and gets it without another login.
	if !m.Refused(cached, other) {
		t.Error("the holder of the old token is not told to ask again")
	}
	if again := mustLease(t, m, fv, req); again.Token != second.Token || fv.logins.Load() != 2 {
		t.Errorf("a stale holder's 403 dropped the newer token: got %q, logins %d", again.Token, fv.logins.Load())
	}
	if n := fv.revocations.Load(); n != 1 {
		t.Errorf("%d revocations, want 1", n)
	}
}

// TestManagerChecksCredentialOnEveryCall: the driver's token is checked
// with a token cached too, and the cached token is not handed out.
func TestManagerChecksCredentialOnEveryCall(t *testing.T) {
	fv := newFakeVault(t)
	fm := &fakeMethod{}
	m := newTestManager(fm, Options{}, nil)
	req := testRequest(fv.srv.URL)
	mustLease(t, m, fv, req)
	fm.checkErr = &Error{Kind: KindCredential, Err: errors.New("the service-account token for audience \"vault\" expired")}
	l, err := m.Token(context.Background(), fv.client(), req)
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindCredential || l != nil {
		t.Fatalf("warm cache, bad credential: lease %v, err %v; want the credential error", l, err)
	}
	if fv.logins.Load() != 1 {
		t.Errorf("logins = %d, want 1", fv.logins.Load())
	}
}

// TestManagerCacheIsBounded: at most MaxTokens identities are cached; the
// least recently used goes first and its token is revoked.
func TestManagerCacheIsBounded(t *testing.T) {
	fv := newFakeVault(t)
	m := newTestManager(&fakeMethod{}, Options{MaxTokens: 3}, nil)
	m.tokens.grace = 0
	var tokens []string
	for i := range 5 {
		req := testRequest(fv.srv.URL)
		req.Pod.ServiceAccount = fmt.Sprintf("sa-%d", i)
		tokens = append(tokens, mustToken(t, m, fv, req))
	}
	if n := m.Len(); n != 3 {
		t.Errorf("cache holds %d tokens, want its bound 3", n)
	}
	got := fv.revokedTokens(2)
	slices.Sort(got)
	want := slices.Clone(tokens[:2])
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("revoked %q, want the two least recently used %q", got, want)
	}
	// The most recent identity is still cached.
	req := testRequest(fv.srv.URL)
	req.Pod.ServiceAccount = "sa-4"
	if tok := mustToken(t, m, fv, req); tok != tokens[4] || fv.logins.Load() != 5 {
		t.Errorf("sa-4: %q (logins %d), want the cached %q", tok, fv.logins.Load(), tokens[4])
	}
}

// TestManagerRevokesReplacedToken: a token replaced by a new login when its
// lifetime ran low is revoked after the grace period.
func TestManagerRevokesReplacedToken(t *testing.T) {
	fv := newFakeVault(t)
	fv.loginTTL = 100
	clock := newFakeClock()
	m := newTestManager(&fakeMethod{}, Options{}, clock)
	m.tokens.grace = 10 * time.Millisecond
	req := testRequest(fv.srv.URL)
	old := mustToken(t, m, fv, req)
	clock.Advance(81 * time.Second)
	if mustToken(t, m, fv, req) == old {
		t.Fatal("no new login in the last fifth of the lifetime")
	}
	if got := fv.revokedTokens(1); !slices.Equal(got, []string{old}) {
		t.Errorf("revoked %q, want the replaced %q", got, old)
	}
}
