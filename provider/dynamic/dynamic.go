// Package dynamic keeps the dynamic secrets each pod got from Vault — leased
// secrets (database/creds, aws/creds, …) and certificates (pki/issue,
// pki/sign) — for as long as the pod runs: its Mounts get the same
// credentials until they must be replaced, its leases are renewed in the
// background whether or not the driver calls Mount again (rotation off, the
// driver's default, means one Mount per pod), and they are revoked soon
// after the pod is gone (see provider/pods).
//
// Vault revokes a lease when the token that created it expires, so the
// store also renews that token in the background while a running pod holds
// a lease of it: a lease lives as long as its pod, up to its own max TTL and
// the token's max TTL (the role's token_max_ttl). At those ends only a
// Mount can hand the pod a new credential; without the driver's rotation,
// none comes (logged when it becomes known).
package dynamic

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/background"
	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
	"github.com/vaultazure/vault-azure-csi-provider/auth/keys"
	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/auth/shared"
	"github.com/vaultazure/vault-azure-csi-provider/provider/pods"
)

// Defaults.
const (
	// DefaultIdleRevoke applies only to pods whose liveness is unknown (no
	// kubelet pod-resources socket): after this long without a Mount their
	// secrets are no longer renewed, and left to expire.
	DefaultIdleRevoke = 6 * time.Minute
	// DefaultMaxSecrets bounds the secrets kept, over all pods.
	DefaultMaxSecrets = 10000
	// DefaultMaxPerNamespace bounds the secrets one namespace's pods keep.
	DefaultMaxPerNamespace = 1000
	// expiryMargin: a secret this close to its end is not handed out.
	expiryMargin = 5 * time.Second
)

// PodRef names the pod a secret is kept for.
type PodRef struct {
	UID       string
	Namespace string
	Name      string
}

// Key names one pod's request for a dynamic secret. Secrets are never
// shared between keys: pods, identities and requests each get their own.
type Key struct {
	Pod      PodRef
	Identity string // who logged in, and where (Vault address, TLS, namespace, auth mount, role, identity)
	Request  string // the Vault request (method, path, query, arguments)
}

// Owner is how a secret was obtained: the Vault token that created it, in
// which namespace, over which client (Vault address and TLS settings, no
// token), and what Vault said of that token at login.
type Owner struct {
	Client       *vault.Client
	Address      string // the Vault address, for fair background work
	Connection   string // the TLS settings of the client (to rebuild it after a restart)
	Token        string
	Namespace    string
	TokenExpires time.Time     // zero: unknown
	TokenTTL     time.Duration // granted at login; zero: unknown
	// TokenRenewable: Vault may extend the token (auth/token/renew-self).
	TokenRenewable bool
}

// LeaseAPI renews and revokes leases, and renews tokens, as their owner.
type LeaseAPI interface {
	Renew(ctx context.Context, owner Owner, leaseID string, increment time.Duration) (time.Duration, error)
	Revoke(ctx context.Context, owner Owner, leaseID string) error
	// RenewToken extends owner's token by increment and returns the TTL
	// granted and whether it may be renewed again.
	RenewToken(ctx context.Context, owner Owner, increment time.Duration) (time.Duration, bool, error)
}

// Liveness tells whether a pod still runs (see pods.Tracker).
type Liveness interface {
	State(pod pods.Name, mounted time.Time) pods.State
}

// Event is what happened to a kept secret, for metrics.
type Event string

// Events.
const (
	EventReuse            Event = "reuse"              // a Mount got a kept secret
	EventIssue            Event = "issue"              // a new dynamic secret was kept
	EventRenew            Event = "renew"              // a lease was renewed
	EventRenewFailed      Event = "renew_failed"       // Vault refused to renew a lease
	EventTokenRenew       Event = "token_renew"        // a token holding running pods' leases was renewed
	EventTokenRenewFailed Event = "token_renew_failed" // Vault refused to renew such a token
	EventRevoke           Event = "revoke"             // a gone pod's lease was revoked
	EventRevokeFailed     Event = "revoke_failed"      // Vault refused to revoke it (it expires at its TTL)
	EventForget           Event = "forget"             // a pod of unknown liveness stopped mounting: no longer renewed, not revoked
	EventRefused          Event = "refused"            // a namespace or the node is at its bound of kept secrets
)

// Config tunes a Store.
type Config struct {
	// IdleRevoke: a secret of a pod whose liveness is unknown, not mounted
	// for this long, is no longer renewed and is dropped without being
	// revoked: it expires at its TTL (default DefaultIdleRevoke).
	IdleRevoke time.Duration
	// MaxSecrets bounds the secrets kept (default DefaultMaxSecrets).
	MaxSecrets int
	// MaxPerNamespace bounds the secrets of one namespace's pods (default
	// DefaultMaxPerNamespace, at most MaxSecrets).
	MaxPerNamespace int
	// Liveness tells whether pods run; nil: unknown for every pod.
	Liveness Liveness
	// Background runs renewals and revocations; nil: they run at once, in
	// the caller (a Sweep, or a Mount that adopts a concurrent issue).
	Background *background.Pool
	// Observer, if set, is told of every event.
	Observer observe.Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MinLife, if set, is the life a kept secret must still have to be
	// handed out again: one whose final end (its certificate's NotAfter,
	// its lease's max TTL, its token's) is nearer is replaced at the Mount
	// (the old one is left to expire, not revoked). For callers that come
	// back only at long intervals (the sync controller's polls): the
	// answer must outlive the wait for the next one. A secret whose whole
	// life is shorter is not replaced for it: a new one would not last
	// longer.
	MinLife time.Duration
}

// Store keeps dynamic secrets per Key. It is safe for concurrent use.
type Store struct {
	cfg   Config
	api   LeaseAPI
	group singleflight.Group

	mu      sync.Mutex
	entries map[Key]*entry
	perNS   map[string]int
	// pending counts the issues admitted and not yet kept, per namespace
	// and in all: concurrent Mounts are admitted against what they will keep.
	pending      map[string]int
	pendingTotal int
	tokens       map[string]*tokenState // by token
	// uidOf is the UID of the pod that last kept a secret under a
	// namespace and name: the kubelet lists pods by name, so a later pod
	// of the same name (a StatefulSet's) tells that the earlier is gone.
	uidOf map[pods.Name]*podName
	dirty bool // changed since the last Snapshot
}

// New returns a Store that renews and revokes with api.
func New(cfg Config, api LeaseAPI) *Store {
	if cfg.IdleRevoke <= 0 {
		cfg.IdleRevoke = DefaultIdleRevoke
	}
	if cfg.MaxSecrets <= 0 {
		cfg.MaxSecrets = DefaultMaxSecrets
	}
	if cfg.MaxPerNamespace <= 0 {
		cfg.MaxPerNamespace = DefaultMaxPerNamespace
	}
	cfg.MaxPerNamespace = min(cfg.MaxPerNamespace, cfg.MaxSecrets)
	cfg.Observer = observe.OrNop(cfg.Observer)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{cfg: cfg, api: api, entries: map[Key]*entry{}, perNS: map[string]int{}, pending: map[string]int{}, tokens: map[string]*tokenState{}, uidOf: map[pods.Name]*podName{}}
}

func (s *Store) event(e Event) { s.cfg.Observer.DynamicEvent(string(e)) }

// CapacityError is a secret not kept because its namespace, or the node,
// holds as many as it may.
type CapacityError struct {
	Namespace string
	Held      int
	Limit     int
	Flag      string
}

func (e *CapacityError) Error() string {
	return fmt.Sprintf("the pods of namespace %q hold %d dynamic secrets on this node and may hold %d (the provider's %s): "+
		"a secret is kept for each pod and request until the pod is gone; use fewer dynamic objects per pod or fewer pods per node, or ask the cluster admin to raise %s",
		e.Namespace, e.Held, e.Limit, e.Flag, e.Flag)
}

// Obtain returns the secret for key: the one kept for it while it may
// still be used (its lease renewed when two thirds of its duration have
// passed), else a new one from issue, which is kept if it is dynamic.
// Concurrent calls for one key share one renewal or issue.
func (s *Store) Obtain(ctx context.Context, key Key, owner Owner, issue func(context.Context) (*vault.Secret, error)) (*vault.Secret, error) {
	if key.Pod.UID == "" {
		return issue(ctx) // no pod UID (podInfoOnMount off): nothing to keep it for
	}
	if sec, ok := s.reuse(key, owner); ok {
		return sec, nil
	}
	// One call per key, whoever asks: two concurrent first Mounts of one
	// pod must not both issue (one lease would be orphaned).
	ch := s.group.DoChan(keys.Join(key.Pod.UID, key.Identity, key.Request), func() (any, error) {
		// Shared by the pod's concurrent Mounts: the first one giving up
		// must not fail the others, yet the call keeps its deadline.
		sctx, cancel := shared.Context(ctx)
		defer cancel()
		return guard.Call("obtaining a dynamic secret", func() (any, error) { return s.refresh(sctx, key, owner, issue) })
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil && r.Shared && ctx.Err() == nil && !isCapacity(r.Err) {
			// The shared call was made with another Mount's token (one
			// that may have been refused): try once with this Mount's.
			return s.refresh(ctx, key, owner, issue)
		}
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*vault.Secret), nil
	}
}

func isCapacity(err error) bool {
	var ce *CapacityError
	return errors.As(err, &ce)
}

// Has reports whether a secret is kept for key.
func (s *Store) Has(key Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.entries[key]
	return ok
}

// Keep keeps sec, which Vault issued for key outside Obtain (a read that
// turned out to carry a lease) from a request begun at began, if it is
// dynamic. It returns the secret to hand out: sec, or the one a concurrent
// Mount of the pod kept meanwhile (sec is then revoked: nobody got it).
func (s *Store) Keep(key Key, sec *vault.Secret, owner Owner, began time.Time) *vault.Secret {
	if key.Pod.UID == "" {
		return sec
	}
	e := newEntry(sec, owner, s.cfg.Now())
	if e == nil {
		return sec
	}
	return s.keep(key, e, began)
}

// due is e.due with the store's MinLife.
func (s *Store) due(e *entry, now time.Time, current Owner) action {
	if min := s.cfg.MinLife; min > 0 {
		if end := e.finalEnd(); !end.IsZero() && end.Sub(now) < min && end.Sub(e.start) >= min {
			return actionIssue
		}
	}
	return e.due(now, current)
}

// reuse returns the kept secret for key if nothing is due.
func (s *Store) reuse(key Key, owner Owner) (*vault.Secret, bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || s.due(e, now, owner) != actionReuse {
		return nil, false
	}
	e.lastMount = now
	s.event(EventReuse)
	return e.secret, true
}

// refresh renews the kept secret's lease or issues a new secret.
func (s *Store) refresh(ctx context.Context, key Key, owner Owner, issue func(context.Context) (*vault.Secret, error)) (*vault.Secret, error) {
	began := s.cfg.Now()
	s.mu.Lock()
	e, ok := s.entries[key]
	action := actionIssue
	if ok {
		action = s.due(e, began, owner)
	}
	if action == actionReuse {
		e.lastMount = began
		s.mu.Unlock()
		s.event(EventReuse)
		return e.secret, nil
	}
	reserved, err := s.admit(key)
	s.mu.Unlock()
	defer s.unreserve(key, reserved)
	if action == actionRenew {
		if sec, ok := s.renewForMount(ctx, key, e, owner); ok {
			return sec, nil
		}
	}
	if err != nil {
		s.event(EventRefused)
		return nil, err
	}
	sec, err := issue(ctx)
	if err != nil {
		return nil, err
	}
	if ne := newEntry(sec, owner, s.cfg.Now()); ne != nil {
		return s.keep(key, ne, began), nil
	}
	return sec, nil
}

// admit refuses a new key when its namespace or the store is full, counting
// the issues admitted and not kept yet; an admitted new key is reserved
// (reserved true) until unreserve. mu is held. A key already kept is
// replaced, never refused.
func (s *Store) admit(key Key) (reserved bool, err error) {
	if _, ok := s.entries[key]; ok {
		return false, nil
	}
	ns := key.Pod.Namespace
	if n := s.perNS[ns] + s.pending[ns]; n >= s.cfg.MaxPerNamespace {
		return false, &CapacityError{Namespace: ns, Held: n, Limit: s.cfg.MaxPerNamespace, Flag: "--dynamic-max-secrets-per-namespace"}
	}
	if len(s.entries)+s.pendingTotal >= s.cfg.MaxSecrets {
		return false, &CapacityError{Namespace: ns, Held: s.perNS[ns], Limit: s.cfg.MaxSecrets, Flag: "--dynamic-max-secrets (over all namespaces)"}
	}
	s.pending[ns]++
	s.pendingTotal++
	return true, nil
}

// unreserve ends a reservation of admit (the secret is kept by now, or was
// not issued).
func (s *Store) unreserve(key Key, reserved bool) {
	if !reserved {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending[key.Pod.Namespace]--; s.pending[key.Pod.Namespace] <= 0 {
		delete(s.pending, key.Pod.Namespace)
	}
	s.pendingTotal--
}

// renewForMount renews e's lease for a Mount; it reports false when a new
// secret must be issued instead (Vault refused, the lease is in the last
// third of the life it can have, or e is no longer kept: handing out a
// secret the store dropped could hand out a revoked one).
func (s *Store) renewForMount(ctx context.Context, key Key, e *entry, current Owner) (*vault.Secret, bool) {
	increment := e.duration
	ttl, err := s.api.Renew(ctx, e.owner, e.leaseID, increment)
	now := s.cfg.Now()
	if err != nil {
		s.event(EventRenewFailed)
		klog.V(2).InfoS("Vault did not renew a dynamic secret's lease: issuing a new one", "pod", podRef(key.Pod), "lease", e.leaseID, "err", err)
		return nil, false
	}
	s.event(EventRenew)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries[key] != e {
		return nil, false
	}
	e.renewed(now, ttl, increment)
	s.dirty = true
	if s.due(e, now, current) != actionReuse {
		return nil, false
	}
	e.lastMount = now
	return e.secret, true
}

// keep stores e under key and returns the secret to hand out. When another
// Mount of the pod kept a secret for key after this one began, that one is
// handed out and e's lease, which nobody got, is revoked.
func (s *Store) keep(key Key, e *entry, began time.Time) *vault.Secret {
	s.mu.Lock()
	if old, ok := s.entries[key]; ok && !old.start.Before(began) && s.due(old, s.cfg.Now(), e.owner) == actionReuse {
		s.mu.Unlock()
		s.revoke(e)
		return old.secret
	}
	if old, ok := s.entries[key]; ok {
		// Replaced: the pod's files may hold it until the driver writes
		// the new one, so it is left to expire, not revoked.
		s.remove(key, old)
	}
	predecessors := s.replacePredecessor(key.Pod)
	s.add(key, e)
	s.mu.Unlock()
	s.event(EventIssue)
	for _, old := range predecessors {
		klog.V(2).InfoS("a later pod of the same name mounted: revoking the dynamic secret of the earlier one", "pod", podRef(key.Pod), "lease", old.leaseID)
		s.revoke(old)
	}
	return e.secret
}

// replacePredecessor drops the secrets of an earlier pod of pod's namespace
// and name (another UID), which is gone once a later one mounts, and
// returns them to revoke; mu is held.
func (s *Store) replacePredecessor(pod PodRef) []*entry {
	n := s.uidOf[pods.Name{Namespace: pod.Namespace, Name: pod.Name}]
	if n == nil || n.uid == pod.UID {
		return nil
	}
	prev := n.uid
	var gone []*entry
	for k, e := range s.entries {
		if k.Pod.UID == prev && k.Pod.Namespace == pod.Namespace && k.Pod.Name == pod.Name {
			s.remove(k, e)
			gone = append(gone, e)
		}
	}
	return gone
}

// podName counts the secrets kept under a namespace and name, and the UID
// of the pod that kept the last one.
type podName struct {
	uid  string
	refs int
}

// add stores e under key; mu is held.
func (s *Store) add(key Key, e *entry) {
	s.dirty = true
	s.entries[key] = e
	name := pods.Name{Namespace: key.Pod.Namespace, Name: key.Pod.Name}
	n := s.uidOf[name]
	if n == nil || n.uid != key.Pod.UID {
		n = &podName{uid: key.Pod.UID}
		s.uidOf[name] = n
	}
	n.refs++
	s.perNS[key.Pod.Namespace]++
	if e.leaseID == "" || e.owner.Token == "" {
		return
	}
	t, ok := s.tokens[e.owner.Token]
	if !ok {
		t = newTokenState(e.owner, e.start)
		s.tokens[e.owner.Token] = t
	}
	t.refs++
	e.tok = t
}

// remove drops key's entry e; mu is held.
func (s *Store) remove(key Key, e *entry) {
	if s.entries[key] != e {
		return
	}
	s.dirty = true
	delete(s.entries, key)
	if s.perNS[key.Pod.Namespace]--; s.perNS[key.Pod.Namespace] <= 0 {
		delete(s.perNS, key.Pod.Namespace)
	}
	name := pods.Name{Namespace: key.Pod.Namespace, Name: key.Pod.Name}
	if n := s.uidOf[name]; n != nil && n.uid == key.Pod.UID {
		if n.refs--; n.refs <= 0 {
			delete(s.uidOf, name)
		}
	}
	if t := e.tok; t != nil {
		if t.refs--; t.refs <= 0 {
			delete(s.tokens, t.owner.Token)
		}
	}
}

// Leases returns the number of kept secrets that hold a lease.
func (s *Store) Leases() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.entries {
		if e.leaseID != "" {
			n++
		}
	}
	return n
}

// Len returns the number of kept secrets.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

func podRef(p PodRef) string { return p.Namespace + "/" + p.Name }

// certificateNotAfter reads the end of the certificate in a pki answer.
func certificateNotAfter(sec *vault.Secret) (time.Time, bool) {
	pemText, _ := sec.Data["certificate"].(string)
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return time.Time{}, false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, false
	}
	return cert.NotAfter, true
}
