package vaultclient

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/semaphore"
)

// Defaults of the bytes of Vault answers being read at once.
const (
	DefaultBodyBudget         = 32 << 20 // over all namespaces
	DefaultNamespaceBodyShare = 8 << 20  // of one namespace's Mounts
)

type tenantKey struct{}

// WithNamespace tells the Vault clients whose Mount a request is for: its
// answer counts against that namespace's share of the bytes being read.
func WithNamespace(ctx context.Context, namespace string) context.Context {
	return context.WithValue(ctx, tenantKey{}, namespace)
}

// budget bounds the bytes of answers being read at once, in all and per
// namespace, so that a namespace whose Vault sends huge answers holds its
// share of the provider's memory, not all of it.
type budget struct {
	total   int64
	perNS   int64
	global  *semaphore.Weighted
	mu      sync.Mutex
	byNS    map[string]*nsBudget
	chunkSz int64
}

type nsBudget struct {
	sem   *semaphore.Weighted
	users int
}

func newBudget(total, perNS int64) *budget {
	perNS = min(perNS, total)
	return &budget{total: total, perNS: perNS, global: semaphore.NewWeighted(total), byNS: map[string]*nsBudget{}, chunkSz: budgetChunk}
}

// reservation is what one answer holds of the budget.
type reservation struct {
	b    *budget
	ns   string
	nsb  *nsBudget
	held int64
}

func (b *budget) open(ctx context.Context) *reservation {
	ns, _ := ctx.Value(tenantKey{}).(string)
	r := &reservation{b: b, ns: ns}
	if ns != "" {
		b.mu.Lock()
		nb, ok := b.byNS[ns]
		if !ok {
			nb = &nsBudget{sem: semaphore.NewWeighted(b.perNS)}
			b.byNS[ns] = nb
		}
		nb.users++
		b.mu.Unlock()
		r.nsb = nb
	}
	return r
}

// grow makes the reservation at least n bytes.
func (r *reservation) grow(n int64) error {
	if n <= r.held {
		return nil
	}
	need := max(r.b.chunkSz, n-r.held)
	if r.nsb != nil && !r.nsb.sem.TryAcquire(need) {
		return &BusyError{What: fmt.Sprintf("the Mounts of namespace %q are reading", r.ns), Budget: r.b.perNS}
	}
	if !r.b.global.TryAcquire(need) {
		if r.nsb != nil {
			r.nsb.sem.Release(need)
		}
		return &BusyError{What: "the provider is reading", Budget: r.b.total}
	}
	r.held += need
	return nil
}

func (r *reservation) close() {
	if r.held > 0 {
		r.b.global.Release(r.held)
		if r.nsb != nil {
			r.nsb.sem.Release(r.held)
		}
		r.held = 0
	}
	if r.nsb != nil {
		r.b.mu.Lock()
		if r.nsb.users--; r.nsb.users <= 0 && r.b.byNS[r.ns] == r.nsb {
			delete(r.b.byNS, r.ns)
		}
		r.b.mu.Unlock()
		r.nsb = nil
	}
}

// BusyError is an answer that could not be read because the answers being
// read at once fill a share of the provider's budget.
type BusyError struct {
	What   string
	Budget int64
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s %d MiB of Vault answers at once, their bound: try again", e.What, e.Budget>>20)
}
