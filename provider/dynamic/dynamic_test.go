package dynamic

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
)

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeVault issues leases (ttl, capped at max from issue) and renews and
// revokes them as Vault's expiration manager does; it also keeps tokens
// (tokenTTL, capped at tokenMax from creation, renewable) and revokes a
// token's leases when it expires, as Vault does.
type fakeVault struct {
	clock              *clock
	ttl, max           time.Duration
	tokenTTL, tokenMax time.Duration
	refuse             bool // refuse renewals

	mu          sync.Mutex
	n           int
	leases      map[string]*fakeLease
	tokens      map[string]*fakeToken
	renews      int
	tokenRenews int
	revokes     []string
}

type fakeLease struct {
	issued, expires time.Time
	token           string
	revoked         bool
}

type fakeToken struct{ created, expires time.Time }

func newFakeVault(c *clock, ttl, max time.Duration) *fakeVault {
	return &fakeVault{clock: c, ttl: ttl, max: max, leases: map[string]*fakeLease{}, tokens: map[string]*fakeToken{}}
}

// login returns the owner of a new token (renewable when tokenTTL is set).
func (v *fakeVault) login(name string) Owner {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.clock.Now()
	if v.tokenTTL == 0 {
		return Owner{Token: name}
	}
	v.tokens[name] = &fakeToken{created: now, expires: now.Add(v.tokenTTL)}
	return Owner{Token: name, Address: "https://vault", TokenExpires: now.Add(v.tokenTTL), TokenTTL: v.tokenTTL, TokenRenewable: true}
}

// issuer answers a database/creds read with owner's token: a new user
// under a new lease.
func (v *fakeVault) issuer(owner Owner) func(context.Context) (*vault.Secret, error) {
	return func(context.Context) (*vault.Secret, error) {
		v.mu.Lock()
		defer v.mu.Unlock()
		v.n++
		id := fmt.Sprintf("database/creds/app/%d", v.n)
		now := v.clock.Now()
		v.leases[id] = &fakeLease{issued: now, expires: now.Add(v.ttl), token: owner.Token}
		return &vault.Secret{LeaseID: id, LeaseDuration: int(v.ttl.Seconds()), Renewable: true,
			Data: map[string]any{"username": fmt.Sprintf("user-%d", v.n), "password": "pw"}}, nil
	}
}

func (v *fakeVault) issue(ctx context.Context) (*vault.Secret, error) { return v.issuer(Owner{})(ctx) }

func (v *fakeVault) Renew(_ context.Context, _ Owner, id string, increment time.Duration) (time.Duration, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.renews++
	now := v.clock.Now()
	if v.refuse || !v.liveLocked(id, now) {
		return 0, errors.New("lease not found or lease is not renewable")
	}
	l := v.leases[id]
	ttl := min(increment, l.issued.Add(v.max).Sub(now))
	l.expires = now.Add(ttl)
	return ttl, nil
}

func (v *fakeVault) RenewToken(_ context.Context, o Owner, increment time.Duration) (time.Duration, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.tokenRenews++
	now := v.clock.Now()
	t, ok := v.tokens[o.Token]
	if !ok || !now.Before(t.expires) {
		return 0, false, &vault.ResponseError{StatusCode: 403, Errors: []string{"permission denied"}}
	}
	ttl := min(increment, t.created.Add(v.tokenMax).Sub(now))
	t.expires = now.Add(ttl)
	return ttl, true, nil
}

func (v *fakeVault) Revoke(_ context.Context, _ Owner, id string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.revokes = append(v.revokes, id)
	if l, ok := v.leases[id]; ok {
		l.revoked = true
	}
	return nil
}

func (v *fakeVault) live(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.liveLocked(id, v.clock.Now())
}

func (v *fakeVault) liveLocked(id string, now time.Time) bool {
	l, ok := v.leases[id]
	if !ok || l.revoked || !now.Before(l.expires) {
		return false
	}
	if t, ok := v.tokens[l.token]; ok && !now.Before(t.expires) {
		return false // Vault revoked it with its token
	}
	return true
}

// eventRecorder appends each dynamic-secret event to events.
type eventRecorder struct {
	observe.Nop
	mu     *sync.Mutex
	events *[]Event
}

func (r eventRecorder) DynamicEvent(e string) {
	r.mu.Lock()
	*r.events = append(*r.events, Event(e))
	r.mu.Unlock()
}

func newStore(c *clock, v LeaseAPI, events *[]Event) *Store {
	return New(Config{Now: c.Now, IdleRevoke: 6 * time.Minute, Observer: eventRecorder{mu: &sync.Mutex{}, events: events}}, v)
}

func count(events []Event, e Event) int {
	n := 0
	for _, x := range events {
		if x == e {
			n++
		}
	}
	return n
}

var (
	web0   = PodRef{UID: "uid-1", Namespace: "shop", Name: "web-0"}
	podKey = Key{Pod: web0, Identity: "azure:shop-web", Request: "GET database/creds/app"}
)

// TestLeaseOverASimulatedHour: one pod polls every 2 minutes for an hour;
// its lease (ttl 10 min, max 30 min) is renewed at two thirds and replaced
// only in the last third of its max TTL. Every credential the pod saw was
// live in Vault when handed out.
func TestLeaseOverASimulatedHour(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, 10*time.Minute, 30*time.Minute)
	var events []Event
	s := newStore(c, v, &events)
	var seen []string
	for range 30 {
		sec, err := s.Obtain(context.Background(), podKey, Owner{}, v.issue)
		if err != nil {
			t.Fatal(err)
		}
		if !v.live(sec.LeaseID) {
			t.Fatalf("handed out lease %s, which is not live", sec.LeaseID)
		}
		if len(seen) == 0 || seen[len(seen)-1] != sec.LeaseID {
			seen = append(seen, sec.LeaseID)
		}
		c.advance(2 * time.Minute)
	}
	// Each lease: renewed at 8 and 16 minutes after issue (two thirds of
	// 10); the renewal at 24 comes back shortened (6 min to its 30-minute
	// max), which puts it in the last third of its life: a new lease. So
	// leases at 0, 24 and 48 minutes, 3+3+1 renewals, and every other poll
	// a reuse without any Vault call.
	if v.n != 3 || len(seen) != 3 {
		t.Errorf("%d leases issued, %d credentials seen (%v); want 3", v.n, len(seen), seen)
	}
	if v.renews != 7 || count(events, EventRenew) != 7 {
		t.Errorf("%d renewals (%d events), want 7", v.renews, count(events, EventRenew))
	}
	if got := count(events, EventReuse); got != 22 {
		t.Errorf("%d reuses, want 22: %v", got, events)
	}
	if count(events, EventIssue) != 3 || count(events, EventRenewFailed) != 0 {
		t.Errorf("events: %v", events)
	}
}

// TestRefusedRenewalIssuesANewSecret: when Vault refuses to renew, the
// Mount gets a new secret at once.
func TestRefusedRenewalIssuesANewSecret(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, 30*time.Second, 90*time.Second)
	var events []Event
	s := newStore(c, v, &events)
	first, _ := s.Obtain(context.Background(), podKey, Owner{}, v.issue)
	c.advance(21 * time.Second)
	v.refuse = true
	second, err := s.Obtain(context.Background(), podKey, Owner{}, v.issue)
	if err != nil {
		t.Fatal(err)
	}
	if second.LeaseID == first.LeaseID || count(events, EventRenewFailed) != 1 {
		t.Errorf("after a refused renewal got %s (first %s), events %v", second.LeaseID, first.LeaseID, events)
	}
}

// TestNewTokenNewLease: Vault revokes a lease when the token that created
// it expires. The lease is kept while the pod's identity uses that token,
// past two thirds of the token's life; the first Mount with the token of a
// new login gets a new lease, made with it; and no lease is handed out
// once its token is about to expire.
func TestNewTokenNewLease(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	var events []Event
	s := newStore(c, v, &events)
	t1 := Owner{Token: "t1", TokenExpires: c.Now().Add(30 * time.Minute)}
	first, _ := s.Obtain(context.Background(), podKey, t1, v.issue)
	c.advance(23 * time.Minute) // past 2/3 of t1's life, before its refresh at 4/5
	if again, _ := s.Obtain(context.Background(), podKey, t1, v.issue); again.LeaseID != first.LeaseID {
		t.Fatal("replaced while its token is still the identity's")
	}
	c.advance(2 * time.Minute) // the manager logged in again: t2
	t2 := Owner{Token: "t2", TokenExpires: c.Now().Add(30 * time.Minute)}
	second, _ := s.Obtain(context.Background(), podKey, t2, v.issue)
	if second.LeaseID == first.LeaseID {
		t.Fatal("kept a lease of a replaced token")
	}
	if !v.live(first.LeaseID) {
		t.Error("the old lease was revoked: the app may still use it until its token expires")
	}
	// A lease whose token is about to expire is never handed out, even to
	// a Mount that still presents that token.
	c.advance(29*time.Minute + 58*time.Second)
	if third, _ := s.Obtain(context.Background(), podKey, t2, v.issue); third.LeaseID == second.LeaseID {
		t.Error("handed out a lease two seconds before its token expires")
	}
}

// TestCertificateKeptUntilTwoThirdsOfValidity: a certificate without a
// lease (Vault's pki default) is handed out until two thirds of its
// validity, then a new one is issued.
func TestCertificateKeptUntilTwoThirdsOfValidity(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	var events []Event
	s := newStore(c, nil, &events)
	issued := 0
	issue := func(context.Context) (*vault.Secret, error) {
		issued++
		return &vault.Secret{Data: map[string]any{"certificate": testCert(t, c.Now().Add(-30*time.Second), c.Now().Add(90*time.Minute)),
			"private_key": fmt.Sprintf("key-%d", issued)}}, nil
	}
	key := Key{Pod: web0, Identity: "i", Request: "PUT pki/issue/web"}
	var keys []string
	for range 40 { // 80 minutes, polls every 2
		sec, err := s.Obtain(context.Background(), key, Owner{}, issue)
		if err != nil {
			t.Fatal(err)
		}
		if k := sec.Data["private_key"].(string); len(keys) == 0 || keys[len(keys)-1] != k {
			keys = append(keys, k)
		}
		c.advance(2 * time.Minute)
	}
	// Valid for 90 minutes from the issue (NotBefore backdated 30 s does
	// not count): replaced at 60 minutes, then kept.
	if issued != 2 || len(keys) != 2 {
		t.Errorf("%d certificates issued (%v), want 2", issued, keys)
	}
}

// TestNotDynamicIsNotKept: an answer with neither lease nor certificate is
// issued at every call (e.g. a transit operation).
func TestNotDynamicIsNotKept(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	var events []Event
	s := newStore(c, nil, &events)
	n := 0
	issue := func(context.Context) (*vault.Secret, error) {
		n++
		return &vault.Secret{Data: map[string]any{"ciphertext": fmt.Sprint(n)}}, nil
	}
	for range 3 {
		if _, err := s.Obtain(context.Background(), podKey, Owner{}, issue); err != nil {
			t.Fatal(err)
		}
	}
	if n != 3 || s.Len() != 0 {
		t.Errorf("issued %d times, kept %d", n, s.Len())
	}
}

// TestKeysAreIsolated: pods, identities and requests never share a secret.
func TestKeysAreIsolated(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	var events []Event
	s := newStore(c, v, &events)
	keys := []Key{podKey, {Pod: PodRef{UID: "uid-2", Namespace: "shop", Name: "web-1"}, Identity: podKey.Identity, Request: podKey.Request},
		{Pod: podKey.Pod, Identity: "azure:billing", Request: podKey.Request},
		{Pod: podKey.Pod, Identity: podKey.Identity, Request: "GET database/creds/other"}}
	ids := map[string]bool{}
	for round := range 3 {
		for _, k := range keys {
			sec, err := s.Obtain(context.Background(), k, Owner{}, v.issue)
			if err != nil {
				t.Fatal(err)
			}
			ids[sec.LeaseID] = true
		}
		_ = round
	}
	if len(ids) != len(keys) || v.n != len(keys) {
		t.Errorf("%d keys got %d distinct leases (%d issued), want one each", len(keys), len(ids), v.n)
	}
}

// TestNoPodUIDNoReuse: without the pod's UID nothing is kept.
func TestNoPodUIDNoReuse(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	s := New(Config{Now: c.Now}, v)
	for range 2 {
		if _, err := s.Obtain(context.Background(), Key{Identity: "i", Request: "r"}, Owner{}, v.issue); err != nil {
			t.Fatal(err)
		}
	}
	if v.n != 2 || s.Len() != 0 {
		t.Errorf("issued %d, kept %d", v.n, s.Len())
	}
}

func testCert(t *testing.T, notBefore, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "web"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
