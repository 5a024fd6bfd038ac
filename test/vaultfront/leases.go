package vaultfront

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// lease is a registered dynamic secret.
type lease struct {
	id        string
	ns        string
	mount     *mount
	path      string // namespace-relative request path
	secret    *logical.Secret
	data      map[string]interface{}
	tokenID   string
	issued    time.Time
	expires   time.Time
	lastRenew time.Time
}

// leaseStore holds the leases of every namespace.
type leaseStore struct {
	mu   sync.Mutex
	byID map[string]*lease
}

// newLeaseStore returns an empty lease store.
func newLeaseStore() *leaseStore { return &leaseStore{byID: map[string]*lease{}} }

// add stores a lease.
func (ls *leaseStore) add(l *lease) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.byID[l.id] = l
}

// get returns a copy of a live lease of namespace ns.
func (ls *leaseStore) get(ns, id string, now time.Time) (lease, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.byID[id]
	if l == nil || l.ns != ns || !now.Before(l.expires) {
		return lease{}, false
	}
	return *l, true
}

// removeWhere removes and returns the leases for which match is true.
func (ls *leaseStore) removeWhere(match func(*lease) bool) []*lease {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []*lease
	for id, l := range ls.byID {
		if match(l) {
			out = append(out, l)
			delete(ls.byID, id)
		}
	}
	return out
}

// remove removes one lease of namespace ns.
func (ls *leaseStore) remove(ns, id string) *lease {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.byID[id]
	if l == nil || l.ns != ns {
		return nil
	}
	delete(ls.byID, id)
	return l
}

// removeMount removes and returns the leases of a mount.
func (ls *leaseStore) removeMount(m *mount) []*lease {
	return ls.removeWhere(func(l *lease) bool { return l.mount == m })
}

// expire removes and returns the leases expired at now.
func (ls *leaseStore) expire(now time.Time) []*lease {
	return ls.removeWhere(func(l *lease) bool { return !now.Before(l.expires) })
}

// renewed records a lease renewal.
func (ls *leaseStore) renewed(id string, now time.Time, ttl time.Duration) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l := ls.byID[id]; l != nil {
		l.lastRenew = now
		l.expires = now.Add(ttl)
	}
}

// revokeLeasesOfToken revokes every lease a token created.
func (s *Server) revokeLeasesOfToken(tokenID string) {
	ctx := context.Background()
	for _, l := range s.leases.removeWhere(func(l *lease) bool { return l.tokenID == tokenID }) {
		s.revokeLeaseBackend(ctx, l)
	}
}

// leaseRequest is the request a backend gets to renew or revoke a lease.
func leaseRequest(l *lease, op logical.Operation, increment time.Duration) *logical.Request {
	sec := *l.secret
	sec.IssueTime = l.issued
	sec.Increment = increment
	return &logical.Request{
		Operation:     op,
		Path:          strings.TrimPrefix(l.path, l.mount.path),
		Storage:       l.mount.storage,
		Secret:        &sec,
		Data:          l.data,
		MountPoint:    l.mount.path,
		MountType:     l.mount.typ,
		MountAccessor: l.mount.accessor,
	}
}

// revokeLeaseBackend tells the backend to revoke an (already removed) lease.
func (s *Server) revokeLeaseBackend(ctx context.Context, l *lease) {
	if _, err := l.mount.backend.HandleRequest(ctx, leaseRequest(l, logical.RevokeOperation, 0)); err != nil {
		s.logger.Warn("vaultfront: lease revocation failed", "lease_id", l.id, "error", err)
	}
}

// renewLease renews a lease through its backend, as Vault's expiration
// manager does.
func (s *Server) renewLease(ctx context.Context, l lease, increment time.Duration) (*logical.Response, error) {
	if !l.secret.Renewable {
		return logical.ErrorResponse("lease is not renewable"), logical.ErrInvalidRequest
	}
	resp, err := l.mount.backend.HandleRequest(ctx, leaseRequest(&l, logical.RenewOperation, increment))
	if err != nil || resp.IsError() {
		return resp, err
	}
	if resp == nil || resp.Secret == nil {
		return logical.ErrorResponse("lease is not renewable"), logical.ErrInvalidRequest
	}
	ttl, warnings, err := framework.CalculateTTL(l.mount.sys, increment, resp.Secret.TTL, 0,
		resp.Secret.MaxTTL, 0, l.issued)
	if err != nil {
		return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
	}
	s.leases.renewed(l.id, time.Now(), ttl)
	resp.Secret.LeaseID = l.id
	resp.Secret.TTL = ttl
	resp.Warnings = append(resp.Warnings, warnings...)
	return resp, nil
}

// leaseLookupData is the data of sys/leases/lookup.
func leaseLookupData(l lease, now time.Time) map[string]interface{} {
	var lastRenew interface{}
	if !l.lastRenew.IsZero() {
		lastRenew = l.lastRenew.Format(time.RFC3339Nano)
	}
	return map[string]interface{}{
		"id":           l.id,
		"issue_time":   l.issued.Format(time.RFC3339Nano),
		"expire_time":  l.expires.Format(time.RFC3339Nano),
		"last_renewal": lastRenew,
		"renewable":    l.secret.Renewable,
		"ttl":          max(int64(l.expires.Sub(now).Seconds()), 0),
	}
}
