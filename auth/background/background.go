// Package background runs the provider's Vault calls that no Mount waits
// for — revoking tokens and leases, renewing leases and the tokens that hold
// them — fairly across Vault addresses: at most a few calls at a time, at
// most one per Vault address, each within a timeout, from a bounded queue.
// SecretProviderClasses choose Vault addresses, so a tenant's slow or hung
// Vault takes one worker at most, never every one, and never a Mount's time.
package background

import (
	"context"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
)

// Defaults.
const (
	DefaultWorkers  = 8
	DefaultQueue    = 4096
	DefaultTimeout  = 10 * time.Second
	maxPerAddrQueue = 1024
)

// Job is one call. Its context ends at the pool's timeout or when the pool
// stops.
type Job func(ctx context.Context)

// Pool runs jobs in the background. The zero value is not usable: use New.
type Pool struct {
	workers int
	queue   int
	timeout time.Duration

	mu      sync.Mutex
	wake    *sync.Cond
	byAddr  map[string][]queued // waiting jobs per Vault address
	order   []string            // addresses with waiting jobs, round robin
	busy    map[string]int      // jobs running per address
	perAddr int                 // most jobs running for one address
	ids     map[string]bool     // ids of waiting or running jobs
	waiting int
	stopped bool
	dropped int
}

type queued struct {
	id  string
	job Job
}

// Options tune a Pool.
type Options struct {
	Workers int           // default DefaultWorkers
	Queue   int           // most jobs waiting, default DefaultQueue
	Timeout time.Duration // per job, default DefaultTimeout
}

// New returns a Pool and starts its workers; they stop with ctx.
func New(ctx context.Context, o Options) *Pool {
	p := &Pool{workers: o.Workers, queue: o.Queue, timeout: o.Timeout,
		byAddr: map[string][]queued{}, busy: map[string]int{}, ids: map[string]bool{}}
	if p.workers <= 0 {
		p.workers = DefaultWorkers
	}
	p.perAddr = max(p.workers/2, 1)
	if p.queue <= 0 {
		p.queue = DefaultQueue
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	p.wake = sync.NewCond(&p.mu)
	for range p.workers {
		go p.work(ctx)
	}
	go func() {
		<-ctx.Done()
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		p.wake.Broadcast()
	}()
	return p
}

// Submit queues job for address. A job with the id of one waiting or
// running is not queued again (id "" is never a duplicate). It reports
// false when the job was not queued: a duplicate, the queue (or the
// address's share of it) full, or the pool stopped.
func (p *Pool) Submit(address, id string, job Job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || (id != "" && p.ids[id]) {
		return false
	}
	if p.waiting >= p.queue || len(p.byAddr[address]) >= min(maxPerAddrQueue, p.queue) {
		p.dropped++
		if p.dropped == 1 || p.dropped%1000 == 0 {
			klog.InfoS("background Vault work queue full: a revocation or renewal was dropped (revoked tokens and leases then expire at their TTL)",
				"vaultAddress", retry.Redact(address), "dropped", p.dropped)
		}
		return false
	}
	if len(p.byAddr[address]) == 0 {
		p.order = append(p.order, address)
	}
	p.byAddr[address] = append(p.byAddr[address], queued{id: id, job: job})
	if id != "" {
		p.ids[id] = true
	}
	p.waiting++
	p.wake.Signal()
	return true
}

// next takes the first waiting job of the first address in round-robin
// order that has fewer than its share running; mu is held.
func (p *Pool) next() (string, queued, bool) {
	for i, addr := range p.order {
		if p.busy[addr] >= p.perAddr {
			continue
		}
		jobs := p.byAddr[addr]
		q := jobs[0]
		p.order = append(p.order[:i:i], p.order[i+1:]...)
		if len(jobs) == 1 {
			delete(p.byAddr, addr)
		} else {
			p.byAddr[addr] = jobs[1:]
			p.order = append(p.order, addr) // to the back: the others' turn first
		}
		p.waiting--
		return addr, q, true
	}
	return "", queued{}, false
}

func (p *Pool) work(ctx context.Context) {
	for {
		p.mu.Lock()
		var (
			addr string
			q    queued
			ok   bool
		)
		for {
			if p.stopped {
				p.mu.Unlock()
				return
			}
			if addr, q, ok = p.next(); ok {
				break
			}
			p.wake.Wait()
		}
		p.busy[addr]++
		p.mu.Unlock()

		p.run(ctx, q.job)

		p.mu.Lock()
		if p.busy[addr]--; p.busy[addr] <= 0 {
			delete(p.busy, addr)
		}
		delete(p.ids, q.id)
		p.mu.Unlock()
		p.wake.Broadcast() // the address may have more jobs for another worker
	}
}

// run calls job within the timeout; a panic is logged and the worker goes on.
func (p *Pool) run(ctx context.Context, job Job) {
	defer guard.Recover("background Vault work", nil)
	jctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	job(jctx)
}
