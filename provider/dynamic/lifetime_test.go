package dynamic

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/provider/pods"
)

// liveness is a settable pods.Tracker stand-in.
type liveness struct {
	mu    sync.Mutex
	state map[pods.Name]pods.State // missing: unknown
}

func (l *liveness) State(p pods.Name, _ time.Time) pods.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state[p]
}

func (l *liveness) set(p PodRef, s pods.State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == nil {
		l.state = map[pods.Name]pods.State{}
	}
	l.state[pods.Name{Namespace: p.Namespace, Name: p.Name}] = s
}

// sweepFor advances the clock by d in steps, sweeping after each.
func sweepFor(s *Store, c *clock, d, step time.Duration) {
	for end := c.Now().Add(d); c.Now().Before(end); {
		c.advance(step)
		s.Sweep(context.Background())
	}
}

// TestRotationOffRunningPodKeepsItsCredential: the driver's default — one
// Mount per pod. The pod runs for hours; its lease (ttl 10 min) and the
// token that created it (ttl 20 min, renewable up to 2 h) are renewed in
// the background, so the credential stays live far past the lease's TTL,
// the token's TTL and the old 6-minute idle revocation, until the token's
// max TTL ends it (Vault revokes its leases then: the documented limit).
func TestRotationOffRunningPodKeepsItsCredential(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, 10*time.Minute, 24*time.Hour)
	v.tokenTTL, v.tokenMax = 20*time.Minute, 2*time.Hour
	live := &liveness{}
	live.set(web0, pods.Alive)
	var events []Event
	s := New(Config{Now: c.Now, IdleRevoke: 6 * time.Minute, Liveness: live, Observer: eventRecorder{mu: &sync.Mutex{}, events: &events}}, v)
	t1 := v.login("t1")
	sec, err := s.Obtain(context.Background(), podKey, t1, v.issuer(t1))
	if err != nil {
		t.Fatal(err)
	}
	for elapsed := time.Duration(0); elapsed < 115*time.Minute; elapsed += 5 * time.Minute {
		sweepFor(s, c, 5*time.Minute, 5*time.Second)
		if !v.live(sec.LeaseID) {
			t.Fatalf("the running pod's credential died %s after its only Mount", elapsed+5*time.Minute)
		}
	}
	if v.revokes != nil || s.Leases() != 1 {
		t.Errorf("revoked %v, kept %d leases; want nothing revoked, the lease kept", v.revokes, s.Leases())
	}
	// 2 h: the token's max TTL; Vault revokes its leases, nothing renews it.
	sweepFor(s, c, 10*time.Minute, 5*time.Second)
	if v.live(sec.LeaseID) {
		t.Error("the credential outlived its token's max TTL: the fake Vault is wrong")
	}
	if s.Leases() != 0 {
		t.Errorf("a lease past its token's end is still kept")
	}
	t.Logf("%d lease renewals, %d token renewals over 2 h", v.renews, v.tokenRenews)
	// Lease renewals every ~6.7 min, token renewals every ~13 min (the last
	// ones shortened by the max TTL).
	if v.renews < 15 || v.renews > 20 || v.tokenRenews < 7 || v.tokenRenews > 10 {
		t.Errorf("%d lease and %d token renewals over 2 h; want about 18 and 9", v.renews, v.tokenRenews)
	}
}

// TestGonePodRevoked: once the pod is gone its lease is revoked with the
// token that created it, at the next sweep; another pod's stays.
func TestGonePodRevoked(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	live := &liveness{}
	s := New(Config{Now: c.Now, Liveness: live}, v)
	web1 := PodRef{UID: "uid-2", Namespace: "shop", Name: "web-1"}
	a, _ := s.Obtain(context.Background(), podKey, Owner{}, v.issue)
	b, _ := s.Obtain(context.Background(), Key{Pod: web1, Identity: podKey.Identity, Request: podKey.Request}, Owner{}, v.issue)
	live.set(web0, pods.Alive)
	live.set(web1, pods.Alive)
	sweepFor(s, c, time.Hour, 10*time.Second) // an hour without Mounts
	if len(v.revokes) != 0 || !v.live(a.LeaseID) || !v.live(b.LeaseID) {
		t.Fatalf("running pods lost leases: revoked %v", v.revokes)
	}
	live.set(web0, pods.Gone)
	s.Sweep(context.Background())
	if len(v.revokes) != 1 || v.revokes[0] != a.LeaseID || !v.live(b.LeaseID) || s.Leases() != 1 {
		t.Errorf("after web-0 is gone: revoked %v (want only %s), kept %d", v.revokes, a.LeaseID, s.Leases())
	}
}

// TestUnknownLivenessNeverRevokedEarly: without a liveness signal, a pod
// that stops mounting has its secrets dropped after the idle period, but
// not revoked: the lease lives to its TTL.
func TestUnknownLivenessNeverRevokedEarly(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	var events []Event
	s := New(Config{Now: c.Now, IdleRevoke: 6 * time.Minute, Observer: eventRecorder{mu: &sync.Mutex{}, events: &events}}, v)
	sec, _ := s.Obtain(context.Background(), podKey, Owner{}, v.issue)
	sweepFor(s, c, 7*time.Minute, 10*time.Second)
	if s.Len() != 0 || len(v.revokes) != 0 || !v.live(sec.LeaseID) || count(events, EventForget) != 1 {
		t.Errorf("kept %d, revoked %v, live %v, events %v; want dropped, not revoked, live", s.Len(), v.revokes, v.live(sec.LeaseID), events)
	}
}

// TestRenewableTokenChangeKeepsCredential: a Mount with the identity's
// newer token does not replace a credential whose own token is still
// renewed; with a token that cannot be extended it does.
func TestRenewableTokenChangeKeepsCredential(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	v.tokenTTL, v.tokenMax = 30*time.Minute, 24*time.Hour
	live := &liveness{}
	live.set(web0, pods.Alive)
	s := New(Config{Now: c.Now, Liveness: live}, v)
	t1 := v.login("t1")
	first, _ := s.Obtain(context.Background(), podKey, t1, v.issuer(t1))
	sweepFor(s, c, 25*time.Minute, 10*time.Second)
	t2 := v.login("t2")
	again, _ := s.Obtain(context.Background(), podKey, t2, v.issuer(t2))
	if again.LeaseID != first.LeaseID {
		t.Error("a newer token replaced a credential whose token is renewed")
	}
	sweepFor(s, c, time.Hour, 10*time.Second)
	if !v.live(first.LeaseID) {
		t.Error("the credential died although its token is renewed")
	}
}

// TestConcurrentFirstMountsOneLease: two first Mounts of one pod at once,
// with different tokens, share one issue: no lease is orphaned.
func TestConcurrentFirstMountsOneLease(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	s := New(Config{Now: c.Now}, v)
	release := make(chan struct{})
	slow := func(o Owner) func(context.Context) (*vault.Secret, error) {
		issue := v.issuer(o)
		return func(ctx context.Context) (*vault.Secret, error) { <-release; return issue(ctx) }
	}
	var wg sync.WaitGroup
	got := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := Owner{Token: fmt.Sprint("t", i)}
			sec, err := s.Obtain(context.Background(), podKey, o, slow(o))
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = sec.LeaseID
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if v.n != 1 || got[0] != got[1] {
		t.Errorf("%d leases issued, Mounts got %v; want one, shared", v.n, got)
	}
}

// TestKeepAdoptsConcurrentIssue: a lease kept by a concurrent Mount after
// this one began is handed out instead of this one's, which is revoked.
func TestKeepAdoptsConcurrentIssue(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	s := New(Config{Now: c.Now}, v)
	began := c.Now()
	winner, _ := s.Obtain(context.Background(), podKey, Owner{}, v.issue)
	late, _ := v.issue(context.Background())
	if got := s.Keep(podKey, late, Owner{}, began); got.LeaseID != winner.LeaseID {
		t.Errorf("Keep handed out %s, want the kept %s", got.LeaseID, winner.LeaseID)
	}
	if len(v.revokes) != 1 || v.revokes[0] != late.LeaseID || s.Leases() != 1 {
		t.Errorf("revoked %v, kept %d; want the late lease revoked and one kept", v.revokes, s.Leases())
	}
}

// TestNamespaceShare: a namespace at its share of kept secrets gets a
// CapacityError for a new one; other namespaces keep theirs and get new
// ones; nothing of anyone is evicted or revoked.
func TestNamespaceShare(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	s := New(Config{Now: c.Now, MaxSecrets: 10, MaxPerNamespace: 4}, v)
	key := func(ns string, i int) Key {
		return Key{Pod: PodRef{UID: fmt.Sprint(ns, i), Namespace: ns, Name: fmt.Sprint("p", i)}, Request: "r"}
	}
	for i := range 2 {
		if _, err := s.Obtain(context.Background(), key("victim", i), Owner{}, v.issue); err != nil {
			t.Fatal(err)
		}
	}
	var refused int
	for i := range 20 {
		if _, err := s.Obtain(context.Background(), key("attacker", i), Owner{}, v.issue); isCapacity(err) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 16 || len(v.revokes) != 0 {
		t.Errorf("attacker refused %d times (want 16), revoked %v", refused, v.revokes)
	}
	for i := range 4 {
		if _, err := s.Obtain(context.Background(), key("victim", i), Owner{}, v.issue); err != nil {
			t.Errorf("victim pod %d: %v", i, err)
		}
	}
	// The node's bound: 4 attacker + 4 victim + 2 others = 10.
	for i := range 3 {
		_, err := s.Obtain(context.Background(), key("third", i), Owner{}, v.issue)
		if (i < 2) != (err == nil) {
			t.Errorf("third namespace's pod %d: %v", i, err)
		}
	}
}

// TestRestartKeepsRunningPodsCredentials: a provider restart (Snapshot, a
// new Store, Restore) hands the pod the same credential, renews its lease
// and token in the background as before, and revokes it once the pod is
// gone; without the snapshot the lease would die at its TTL.
func TestRestartKeepsRunningPodsCredentials(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, 10*time.Minute, 24*time.Hour)
	v.tokenTTL, v.tokenMax = 20*time.Minute, 24*time.Hour
	live := &liveness{}
	live.set(web0, pods.Alive)
	before := New(Config{Now: c.Now, Liveness: live}, v)
	t1 := v.login("t1")
	sec, _ := before.Obtain(context.Background(), podKey, t1, v.issuer(t1))
	sweepFor(before, c, 15*time.Minute, 5*time.Second)
	data, changed, err := before.Snapshot()
	if err != nil || !changed {
		t.Fatalf("Snapshot: changed %v, %v", changed, err)
	}
	if _, changed, _ := before.Snapshot(); changed {
		t.Error("a second Snapshot without changes reports changes")
	}

	after := New(Config{Now: c.Now, Liveness: live}, v)
	n, err := after.Restore(data, func(address, connection string) (*vault.Client, error) { return nil, nil })
	if err != nil || n != 1 {
		t.Fatalf("Restore = %d, %v", n, err)
	}
	again, err := after.Obtain(context.Background(), podKey, v.login("t2"), v.issuer(Owner{}))
	if err != nil || again.LeaseID != sec.LeaseID || again.Data["username"] != sec.Data["username"] {
		t.Fatalf("after the restart the pod got %v (%v), want its credential %s", again.LeaseID, err, sec.LeaseID)
	}
	sweepFor(after, c, time.Hour, 5*time.Second)
	if !v.live(sec.LeaseID) {
		t.Fatal("the restored credential died: not renewed after the restart")
	}
	live.set(web0, pods.Gone)
	after.Sweep(context.Background())
	if len(v.revokes) != 1 || v.revokes[0] != sec.LeaseID {
		t.Errorf("revoked %v after the pod is gone, want %s", v.revokes, sec.LeaseID)
	}
}

// TestNamespaceShareUnderConcurrency: 60 concurrent first issues of one
// namespace keep at most its share; the others are refused, none revoked.
func TestNamespaceShareUnderConcurrency(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	s := New(Config{Now: c.Now, MaxSecrets: 100, MaxPerNamespace: 20}, v)
	release := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := Key{Pod: PodRef{UID: fmt.Sprint("u", i), Namespace: "attacker", Name: fmt.Sprint("p", i)}, Request: "r"}
			_, err := s.Obtain(context.Background(), key, Owner{}, func(ctx context.Context) (*vault.Secret, error) { <-release; return v.issue(ctx) })
			if isCapacity(err) {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if s.Len() != 20 || refused != 40 || len(v.revokes) != 0 {
		t.Errorf("kept %d, refused %d, revoked %v; want 20, 40, none", s.Len(), refused, v.revokes)
	}
}

// TestLaterPodOfTheSameName: the kubelet lists pods by name, so a
// StatefulSet's web-0 recreated (a new UID) looks alive for its
// predecessor too; the later pod's first kept secret revokes the earlier
// pod's instead of renewing it forever.
func TestLaterPodOfTheSameName(t *testing.T) {
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	v := newFakeVault(c, time.Hour, 24*time.Hour)
	live := &liveness{}
	live.set(web0, pods.Alive)
	s := New(Config{Now: c.Now, Liveness: live}, v)
	first, _ := s.Obtain(context.Background(), podKey, Owner{}, v.issue)
	other := Key{Pod: web0, Identity: podKey.Identity, Request: "GET database/creds/other"}
	s.Obtain(context.Background(), other, Owner{}, v.issue)
	later := podKey
	later.Pod.UID = "uid-later"
	second, _ := s.Obtain(context.Background(), later, Owner{}, v.issue)
	if second.LeaseID == first.LeaseID || s.Len() != 1 || len(v.revokes) != 2 {
		t.Errorf("kept %d, revoked %v; want the later pod's one kept and the earlier pod's two revoked", s.Len(), v.revokes)
	}
	if len(s.uidOf) != 1 || s.uidOf[pods.Name{Namespace: "shop", Name: "web-0"}].refs != 1 {
		t.Errorf("uidOf = %v", s.uidOf)
	}
	live.set(web0, pods.Gone)
	s.Sweep(context.Background())
	if s.Len() != 0 || len(s.uidOf) != 0 {
		t.Errorf("after the pod is gone: %d kept, uidOf %v", s.Len(), s.uidOf)
	}
}
