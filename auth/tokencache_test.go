package auth

import (
	"context"
	"errors"
	"fmt"
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

// TestManagerRefused: a 403 on a token just obtained, or at a path refused
// before, is the policy's answer, remembered per path, with no new login; a
// 403 at a new path on a cached token makes one login for the identity (the
// role may have gained a policy), shared by every holder of the old token;
// at most three such logins a minute per identity; no token is ever looked
// up, dropped or revoked because of a refusal.
func TestManagerRefused(t *testing.T) {
	const denied, other, third = "GET secret/data/denied", "GET secret/data/other", "GET secret/data/third"
	ctx := context.Background()
	fv := newFakeVault(t)
	clock := newFakeClock()
	m := newTestManager(&fakeMethod{}, Options{}, clock)
	req := testRequest(fv.srv.URL)

	first := mustLease(t, m, fv, req)
	if !first.Fresh {
		t.Fatal("the token of a login is not fresh")
	}
	if m.Refused(ctx, first, denied) {
		t.Error("a 403 on a token obtained within this call asks for a new login")
	}
	cached := mustLease(t, m, fv, req)
	if cached.Fresh || cached.Token != first.Token {
		t.Fatalf("second call: %+v, want the cached token, not fresh", cached)
	}
	for range 100 {
		if m.Refused(ctx, cached, denied) {
			t.Fatal("a path refused while the token was fresh asks for a new login")
		}
	}
	if fv.logins.Load() != 1 {
		t.Errorf("logins %d after refusals of a known path; want 1", fv.logins.Load())
	}

	// A cached token refused at a new path: one login, for every holder.
	if !m.Refused(ctx, cached, other) {
		t.Fatal("a 403 at a new path on a cached token does not ask for a new token")
	}
	if !m.Refused(ctx, cached, third) {
		t.Error("another holder of the stale token is not told to ask again")
	}
	second := mustLease(t, m, fv, req)
	again := mustLease(t, m, fv, req)
	if second.Token == first.Token || !second.Fresh || again.Token != second.Token || fv.logins.Load() != 2 {
		t.Fatalf("after the refusal: %+v then %+v, logins %d; want one fresh new token for both", second, again, fv.logins.Load())
	}
	// The fresh token refused too: remembered; no login per Mount.
	if m.Refused(ctx, second, other) {
		t.Error("the fresh token's refusal asks for yet another login")
	}
	for range 50 {
		if m.Refused(ctx, again, other) {
			t.Fatal("a refusal remembered with the new token asks for a login")
		}
	}
	// Three refusal-made logins a minute per identity, then none until the
	// minute has passed.
	cachedLease := func() *Lease {
		t.Helper()
		mustLease(t, m, fv, req) // the login a refusal asked for, if any
		l := mustLease(t, m, fv, req)
		if l.Fresh {
			t.Fatal("a second call got a fresh token")
		}
		return l
	}
	for i := range 2 {
		if !m.Refused(ctx, cachedLease(), fmt.Sprint("GET secret/data/new-", i)) {
			t.Fatalf("refusal-made login %d of 3 in a minute refused", i+2)
		}
	}
	capped := cachedLease()
	if m.Refused(ctx, capped, "GET secret/data/fourth") {
		t.Error("a fourth refusal-made login within a minute")
	}
	clock.Advance(61 * time.Second)
	if !m.Refused(ctx, capped, "GET secret/data/fourth") {
		t.Error("a minute later, the refusal the cap answered does not ask for a login (it was remembered)")
	}
	if fv.logins.Load() != 4 || fv.revocations.Load() != 0 || fv.lookups.Load() != 0 {
		t.Errorf("logins %d, revocations %d, lookups %d; want 4, 0, 0", fv.logins.Load(), fv.revocations.Load(), fv.lookups.Load())
	}
}

// TestManagerReloginsAreBounded: a class refused at a new path at every
// Mount costs at most three logins per identity per minute.
func TestManagerReloginsAreBounded(t *testing.T) {
	ctx := context.Background()
	fv := newFakeVault(t)
	clock := newFakeClock()
	m := newTestManager(&fakeMethod{}, Options{}, clock)
	req := testRequest(fv.srv.URL)
	for i := range 600 { // 10 minutes, a Mount a second, each at a new path
		l := mustLease(t, m, fv, req)
		if m.Refused(ctx, l, fmt.Sprintf("GET secret/data/p%d", i)) {
			l = mustLease(t, m, fv, req)
			m.Refused(ctx, l, fmt.Sprintf("GET secret/data/p%d", i))
		}
		clock.Advance(time.Second)
	}
	if n := fv.logins.Load(); n < 28 || n > 32 {
		t.Errorf("%d logins in 10 minutes of refusals at new paths, want about 31 (1 + 3 a minute)", n)
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
// least recently used goes first. Its token is not revoked: it expires on
// its own, and revoking it would revoke the leases it created.
func TestManagerCacheIsBounded(t *testing.T) {
	fv := newFakeVault(t)
	m := newTestManager(&fakeMethod{}, Options{MaxTokens: 3}, nil)
	var tokens []string
	for i := range 5 {
		req := testRequest(fv.srv.URL)
		req.Pod.ServiceAccount = fmt.Sprintf("sa-%d", i)
		tokens = append(tokens, mustToken(t, m, fv, req))
	}
	if n := m.Len(); n != 3 {
		t.Errorf("cache holds %d tokens, want its bound 3", n)
	}
	// The most recent identity is still cached; the first is not.
	req := testRequest(fv.srv.URL)
	req.Pod.ServiceAccount = "sa-4"
	if tok := mustToken(t, m, fv, req); tok != tokens[4] || fv.logins.Load() != 5 {
		t.Errorf("sa-4: %q (logins %d), want the cached %q", tok, fv.logins.Load(), tokens[4])
	}
	req.Pod.ServiceAccount = "sa-0"
	if tok := mustToken(t, m, fv, req); tok == tokens[0] || fv.logins.Load() != 6 {
		t.Errorf("sa-0 pushed out: %q (logins %d), want a new login", tok, fv.logins.Load())
	}
	if got := fv.revokedTokens(1); len(got) != 0 { // waits up to a second for one
		t.Errorf("revoked %q, want none (pushed-out tokens expire on their own)", got)
	}
}

// TestManagerLeavesReplacedTokenToExpire: a token replaced by a new login
// when its lifetime ran low is not revoked: Vault would revoke with it
// every lease it created, the dynamic secrets pods are using.
func TestManagerLeavesReplacedTokenToExpire(t *testing.T) {
	fv := newFakeVault(t)
	fv.loginTTL = 100
	clock := newFakeClock()
	m := newTestManager(&fakeMethod{}, Options{}, clock)
	req := testRequest(fv.srv.URL)
	old := mustToken(t, m, fv, req)
	clock.Advance(81 * time.Second)
	if mustToken(t, m, fv, req) == old {
		t.Fatal("no new login in the last fifth of the lifetime")
	}
	if got := fv.revokedTokens(1); len(got) != 0 { // waits up to a second for one
		t.Errorf("revoked %q, want none", got)
	}
}

// TestLeaseCarriesTheTokenExpiry: the lease of a new or cached token says
// when the token expires (dynamic secrets it creates die with it).
func TestLeaseCarriesTheTokenExpiry(t *testing.T) {
	fv := newFakeVault(t)
	fv.loginTTL = 100
	clock := newFakeClock()
	m := newTestManager(&fakeMethod{}, Options{}, clock)
	req := testRequest(fv.srv.URL)
	want := clock.Now().Add(100 * time.Second)
	first := mustLease(t, m, fv, req)
	clock.Advance(10 * time.Second)
	cached := mustLease(t, m, fv, req)
	if !first.Expires.Equal(want) || !cached.Expires.Equal(want) || cached.Token != first.Token {
		t.Errorf("expiries %v (new) and %v (cached), want %v", first.Expires, cached.Expires, want)
	}
}
