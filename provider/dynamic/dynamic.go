// Package dynamic keeps the dynamic secrets each pod got from Vault — leased
// secrets (database/creds, aws/creds, …) and certificates (pki/issue,
// pki/sign) — so that a pod's rotation polls get the same credentials until
// they must be renewed or replaced, instead of a new lease at every poll.
// Leases of pods that stopped polling are revoked.
//
// Vault revokes a lease when the token that created it expires, so a kept
// lease never outlives its token either: when the provider logs in again
// for the pod's identity, the next Mount gets a new secret with the new
// token, while the old one stays valid until its token expires.
package dynamic

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/provider/shared"
)

// Defaults.
const (
	// DefaultIdleRevoke is 3 × the driver's default rotation poll interval
	// (2 minutes): a pod that missed three polls is gone.
	DefaultIdleRevoke = 6 * time.Minute
	// DefaultMaxSecrets bounds the secrets kept, over all pods.
	DefaultMaxSecrets = 10000
	// expiryMargin: a secret this close to its end is not handed out.
	expiryMargin = 5 * time.Second
)

// Key names one pod's request for a dynamic secret. Secrets are never
// shared between keys: pods, identities and requests each get their own.
type Key struct {
	Pod      string // pod UID
	Identity string // who logged in, and where (Vault address, TLS, namespace, auth mount, role, identity)
	Request  string // the Vault request (method, path, query, arguments)
}

// Owner is how a secret was obtained: the Vault token that created it, in
// which namespace, over which client (Vault address and TLS settings, no
// token), and when that token expires.
type Owner struct {
	Client       *vault.Client
	Token        string
	Namespace    string
	TokenExpires time.Time // zero: unknown
}

// LeaseAPI renews and revokes leases as their owner.
type LeaseAPI interface {
	Renew(ctx context.Context, owner Owner, leaseID string, increment time.Duration) (time.Duration, error)
	Revoke(ctx context.Context, owner Owner, leaseID string) error
}

// Event is what happened to a kept secret, for metrics.
type Event string

// Events.
const (
	EventReuse        Event = "reuse"         // a Mount got a kept secret
	EventIssue        Event = "issue"         // a new dynamic secret was kept
	EventRenew        Event = "renew"         // a lease was renewed
	EventRenewFailed  Event = "renew_failed"  // Vault refused to renew: a new one is issued
	EventRevoke       Event = "revoke"        // an idle pod's lease was revoked
	EventRevokeFailed Event = "revoke_failed" // Vault refused to revoke it (it expires at its TTL)
)

// Config tunes a Store.
type Config struct {
	// IdleRevoke: a secret whose pod has not mounted for this long is
	// dropped, and its lease revoked (default DefaultIdleRevoke).
	IdleRevoke time.Duration
	// MaxSecrets bounds the secrets kept (default DefaultMaxSecrets); the
	// least recently mounted goes first, its lease revoked.
	MaxSecrets int
	// Observer, if set, is told of every event.
	Observer observe.Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store keeps dynamic secrets per Key. It is safe for concurrent use.
type Store struct {
	cfg   Config
	api   LeaseAPI
	group singleflight.Group

	mu      sync.Mutex
	entries map[Key]*entry
}

// New returns a Store that renews and revokes leases with api.
func New(cfg Config, api LeaseAPI) *Store {
	if cfg.IdleRevoke <= 0 {
		cfg.IdleRevoke = DefaultIdleRevoke
	}
	if cfg.MaxSecrets <= 0 {
		cfg.MaxSecrets = DefaultMaxSecrets
	}
	cfg.Observer = observe.OrNop(cfg.Observer)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{cfg: cfg, api: api, entries: map[Key]*entry{}}
}

func (s *Store) event(e Event) { s.cfg.Observer.DynamicEvent(string(e)) }

// Obtain returns the secret for key: the one kept for it while it may
// still be used (its lease renewed when two thirds of its duration have
// passed), else a new one from issue, which is kept if it is dynamic.
// Concurrent calls for one key share one renewal or issue.
func (s *Store) Obtain(ctx context.Context, key Key, owner Owner, issue func(context.Context) (*vault.Secret, error)) (*vault.Secret, error) {
	if key.Pod == "" {
		return issue(ctx) // no pod UID (podInfoOnMount off): nothing to keep it for
	}
	if sec, ok := s.reuse(key, owner); ok {
		return sec, nil
	}
	// Calls with another token (a Mount that logged in again after a
	// refusal) do not join: the shared call is made with the first's token.
	tok := sha256.Sum256([]byte(owner.Token))
	fk := fmt.Sprintf("%q", []string{key.Pod, key.Identity, key.Request, hex.EncodeToString(tok[:])})
	ch := s.group.DoChan(fk, func() (any, error) {
		// Shared by the pod's concurrent Mounts: the first one giving up
		// must not fail the others, yet the call keeps its deadline.
		sctx, cancel := shared.Context(ctx)
		defer cancel()
		return s.refresh(sctx, key, owner, issue)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*vault.Secret), nil
	}
}

// Has reports whether a secret is kept for key.
func (s *Store) Has(key Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.entries[key]
	return ok
}

// Keep keeps sec, which Vault just issued for key outside Obtain (e.g. a
// read that turned out to carry a lease), if it is dynamic.
func (s *Store) Keep(key Key, sec *vault.Secret, owner Owner) bool {
	if key.Pod == "" {
		return false
	}
	e := newEntry(sec, owner, s.cfg.Now())
	if e == nil {
		return false
	}
	s.keep(key, e)
	s.event(EventIssue)
	return true
}

// reuse returns the kept secret for key if nothing is due.
func (s *Store) reuse(key Key, owner Owner) (*vault.Secret, bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || e.due(now, owner) != actionReuse {
		return nil, false
	}
	e.lastMount = now
	s.event(EventReuse)
	return e.secret, true
}

// refresh renews the kept secret's lease or issues a new secret.
func (s *Store) refresh(ctx context.Context, key Key, owner Owner, issue func(context.Context) (*vault.Secret, error)) (*vault.Secret, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	e, ok := s.entries[key]
	action := actionIssue
	if ok {
		action = e.due(now, owner)
	}
	if action == actionReuse {
		e.lastMount = now
		s.mu.Unlock()
		s.event(EventReuse)
		return e.secret, nil
	}
	s.mu.Unlock()
	if action == actionRenew {
		if sec, ok := s.renew(ctx, key, e, owner); ok {
			return sec, nil
		}
	}
	sec, err := issue(ctx)
	if err != nil {
		return nil, err
	}
	if ne := newEntry(sec, owner, s.cfg.Now()); ne != nil {
		s.keep(key, ne)
		s.event(EventIssue)
	}
	return sec, nil
}

// renew renews e's lease; it reports false when a new secret must be
// issued instead (Vault refused, or the lease is in the last third of the
// life it can have).
func (s *Store) renew(ctx context.Context, key Key, e *entry, current Owner) (*vault.Secret, bool) {
	increment := e.duration
	ttl, err := s.api.Renew(ctx, e.owner, e.leaseID, increment)
	now := s.cfg.Now()
	if err != nil {
		s.event(EventRenewFailed)
		klog.V(2).InfoS("Vault did not renew a dynamic secret's lease: issuing a new one", "pod", key.Pod, "lease", e.leaseID, "err", err)
		return nil, false
	}
	s.event(EventRenew)
	s.mu.Lock()
	defer s.mu.Unlock()
	e.renewed(now, ttl, increment)
	if e.due(now, current) != actionReuse {
		return nil, false
	}
	e.lastMount = now
	return e.secret, true
}

// keep stores e under key, making room by dropping the least recently
// mounted secret (revoking its lease).
func (s *Store) keep(key Key, e *entry) {
	s.mu.Lock()
	var evicted []*entry
	if _, ok := s.entries[key]; !ok {
		for len(s.entries) >= s.cfg.MaxSecrets {
			oldest := s.oldest()
			evicted = append(evicted, s.entries[oldest])
			delete(s.entries, oldest)
		}
	}
	s.entries[key] = e
	s.mu.Unlock()
	for _, old := range evicted {
		s.revoke(context.Background(), old)
	}
}

// oldest is the key mounted least recently; mu is held.
func (s *Store) oldest() Key {
	var k Key
	var t time.Time
	first := true
	for key, e := range s.entries {
		if first || e.lastMount.Before(t) {
			k, t, first = key, e.lastMount, false
		}
	}
	return k
}

// Sweep drops the secrets whose pod has not mounted for IdleRevoke, and
// those past their end, revoking the leases of the idle ones. It returns
// how many it dropped.
func (s *Store) Sweep(ctx context.Context) int {
	now := s.cfg.Now()
	var idle []*entry
	dropped := 0
	s.mu.Lock()
	for k, e := range s.entries {
		switch {
		case now.Sub(e.lastMount) >= s.cfg.IdleRevoke:
			idle = append(idle, e)
		case !now.Before(e.end()):
		default:
			continue
		}
		delete(s.entries, k)
		dropped++
	}
	s.mu.Unlock()
	for _, e := range idle {
		s.revoke(ctx, e)
	}
	return dropped
}

// Run sweeps every interval until ctx ends (without revoking what is kept:
// pods outlive a provider restart).
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	wait.UntilWithContext(ctx, func(ctx context.Context) { s.Sweep(ctx) }, interval)
}

// revoke revokes e's lease with the token that created it, unless that
// token has expired (Vault revoked the lease with it).
func (s *Store) revoke(ctx context.Context, e *entry) {
	if e.leaseID == "" || (!e.owner.TokenExpires.IsZero() && !s.cfg.Now().Before(e.owner.TokenExpires)) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.api.Revoke(ctx, e.owner, e.leaseID); err != nil {
		s.event(EventRevokeFailed)
		klog.InfoS("could not revoke the lease of a pod that stopped mounting; it expires at its TTL (grant update on sys/leases/revoke/<path>/* to the role's policy)",
			"lease", e.leaseID, "err", err)
		return
	}
	s.event(EventRevoke)
	klog.V(2).InfoS("revoked the lease of a pod that stopped mounting", "lease", e.leaseID)
}

// IdleRevoke is how long a pod may not mount before its secrets go.
func (s *Store) IdleRevoke() time.Duration { return s.cfg.IdleRevoke }

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
