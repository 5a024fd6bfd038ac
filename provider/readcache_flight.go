package provider

import (
	"context"
	"sync"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
	"github.com/vaultazure/vault-azure-csi-provider/auth/shared"
)

// flightGroup coalesces identical concurrent reads: callers asking for a key
// that is already being read wait for that read instead of making their own.
// Unlike a plain singleflight, the shared read does not depend on the caller
// that started it: it runs until it finishes or until every waiter has given
// up (context cancelled or past its deadline), and then it is cancelled.
type flightGroup struct {
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done    chan struct{}
	secret  *vault.Secret
	err     error
	waiters int
	cancel  context.CancelFunc
}

func newFlightGroup() *flightGroup {
	return &flightGroup{flights: map[string]*flight{}}
}

// join registers the caller as a waiter of key's flight, starting one that
// runs fn if none is running, and reports whether it joined another
// caller's. The caller must then wait for it, or leave it.
func (g *flightGroup) join(ctx context.Context, key string, fn func(context.Context) (*vault.Secret, error)) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.flights[key]; ok {
		f.waiters++
		return f, true
	}
	// The shared read outlives the caller that started it, but keeps its
	// deadline so retries stop in time and errors explain themselves. A
	// caller that joins with more time left still gets that first deadline:
	// the Mounts that share reads come from the driver with the same
	// timeout, and a read that waited for the latest deadline of all its
	// waiters would hold Vault slots (--vault-max-concurrency) longer.
	fctx, cancel := shared.Context(ctx)
	f := &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
	g.flights[key] = f
	go g.run(fctx, key, f, fn)
	return f, false
}

// wait returns the flight's result, or ctx's error if ctx ends first (and
// then leaves the flight).
func (g *flightGroup) wait(ctx context.Context, key string, f *flight) (*vault.Secret, error) {
	select {
	case <-f.done:
		return f.secret, f.err
	case <-ctx.Done():
		g.leave(key, f)
		return nil, ctx.Err()
	}
}

func (g *flightGroup) run(ctx context.Context, key string, f *flight, fn func(context.Context) (*vault.Secret, error)) {
	defer f.cancel()
	s, err := guard.Call("a shared read", func() (*vault.Secret, error) { return fn(ctx) })
	g.mu.Lock()
	if g.flights[key] == f {
		delete(g.flights, key)
	}
	g.mu.Unlock()
	f.secret, f.err = s, err
	close(f.done)
}

// leave drops a waiter; the last one to leave cancels the shared call, and a
// later caller starts a new one.
func (g *flightGroup) leave(key string, f *flight) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	f.cancel()
	if g.flights[key] == f {
		delete(g.flights, key)
	}
}
