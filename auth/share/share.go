// Package share bounds the Vault calls that Mounts wait for — logins,
// reads, KV-version lookups — so that no tenant takes more than its share
// of the node's provider: at most Total calls at a time over all, at most
// PerAddress for one Vault address (SecretProviderClasses choose it: a
// slow or hung Vault holds its share, not every slot) and at most
// PerNamespace for the pods of one namespace. A caller waits for its
// namespace's share first, then its address's, then a slot of the total,
// so callers stuck behind a full share hold no slot of the others.
package share

import (
	"context"
	"fmt"
	"sync"
)

// Defaults.
const (
	DefaultTotal = 32
)

// Limits are the bounds; zero values take their defaults (Total
// DefaultTotal, PerAddress and PerNamespace half of Total).
type Limits struct {
	Total        int
	PerAddress   int
	PerNamespace int
}

// Shares hands out slots. It is safe for concurrent use.
type Shares struct {
	limits Limits
	total  chan struct{}

	mu     sync.Mutex
	byAddr map[string]*keyed
	byNS   map[string]*keyed
}

type keyed struct {
	slots chan struct{}
	users int // holders and waiters: the entry goes when none is left
}

// New returns Shares with limits.
func New(l Limits) *Shares {
	if l.Total <= 0 {
		l.Total = DefaultTotal
	}
	if l.PerAddress <= 0 {
		l.PerAddress = max(l.Total/2, 1)
	}
	if l.PerNamespace <= 0 {
		l.PerNamespace = max(l.Total/2, 1)
	}
	l.PerAddress, l.PerNamespace = min(l.PerAddress, l.Total), min(l.PerNamespace, l.Total)
	return &Shares{limits: l, total: make(chan struct{}, l.Total), byAddr: map[string]*keyed{}, byNS: map[string]*keyed{}}
}

// Limits returns the bounds in force.
func (s *Shares) Limits() Limits { return s.limits }

// Error is a caller that gave up waiting for a slot.
type Error struct {
	What  string // which share was full
	Limit int
	Err   error // the context's error
}

func (e *Error) Error() string {
	return fmt.Sprintf("waiting for one of %s (%d): %v", e.What, e.Limit, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Acquire waits for a slot of namespace's share, address's share and the
// total, at most until ctx ends, and returns the function that releases
// them. A nil Shares bounds nothing.
func (s *Shares) Acquire(ctx context.Context, address, namespace string) (func(), error) {
	if s == nil {
		return func() {}, nil
	}
	ns := s.join(s.byNS, namespace, s.limits.PerNamespace)
	addr := s.join(s.byAddr, address, s.limits.PerAddress)
	leave := func() {
		s.leave(s.byAddr, address, addr)
		s.leave(s.byNS, namespace, ns)
	}
	// The namespace's message is written only if the wait fails: Acquire
	// is on the path of every Vault call.
	steps := [3]struct {
		slots chan struct{}
		what  string
		limit int
	}{
		{ns.slots, "", s.limits.PerNamespace},
		{addr.slots, "the concurrent calls to this Vault address (--vault-max-concurrency-per-address)", s.limits.PerAddress},
		{s.total, "the provider's concurrent Vault calls (--vault-max-concurrency)", s.limits.Total},
	}
	for i, st := range steps {
		if err := take(ctx, st.slots); err != nil {
			for _, held := range steps[:i] {
				<-held.slots
			}
			leave()
			what := st.what
			if i == 0 {
				what = fmt.Sprintf("the concurrent Vault calls of namespace %q (--vault-max-concurrency-per-namespace)", namespace)
			}
			return nil, &Error{What: what, Limit: st.limit, Err: err}
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-s.total
			<-addr.slots
			<-ns.slots
			leave()
		})
	}, nil
}

func take(ctx context.Context, slots chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Shares) join(m map[string]*keyed, key string, n int) *keyed {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := m[key]
	if !ok {
		k = &keyed{slots: make(chan struct{}, n)}
		m[key] = k
	}
	k.users++
	return k
}

func (s *Shares) leave(m map[string]*keyed, key string, k *keyed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k.users--; k.users <= 0 && m[key] == k {
		delete(m, key)
	}
}

// InUse returns the slots of the total in use (for tests and metrics).
func (s *Shares) InUse() int { return len(s.total) }
