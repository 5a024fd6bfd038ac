package dynamic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/background"
	"github.com/vaultazure/vault-azure-csi-provider/provider/pods"
)

// Run sweeps every interval until ctx ends. Nothing is revoked when ctx
// ends: pods outlive a provider restart.
func (s *Store) Run(ctx context.Context, interval time.Duration) {
	wait.UntilWithContext(ctx, func(ctx context.Context) { s.Sweep(ctx) }, interval)
}

// UseBackground runs the store's renewals and revocations on pool from now
// on. Call it before the store is used concurrently (Provider.Start does,
// before serving).
func (s *Store) UseBackground(pool *background.Pool) { s.cfg.Background = pool }

// SweepInterval is how often Run should sweep: often enough to renew
// leases of seconds at two thirds, and cheap (a pass over memory; the
// Vault calls go to the background pool).
func (s *Store) SweepInterval() time.Duration { return time.Second }

// state is what is known of pod, which last mounted at mounted.
func (s *Store) state(pod PodRef, mounted time.Time) pods.State {
	if s.cfg.Liveness == nil {
		return pods.Unknown
	}
	return s.cfg.Liveness.State(pods.Name{Namespace: pod.Namespace, Name: pod.Name}, mounted)
}

// Sweep looks at every kept secret once: the leases of pods that are gone
// are revoked; secrets past their end are dropped; a pod of unknown
// liveness that has not mounted for IdleRevoke has its secrets dropped
// unrevoked (they expire at their TTL: never revoked under a pod that may
// run); the leases of the others, and the tokens that created them, are
// renewed in the background at two thirds of their TTL. It returns how
// many secrets it dropped.
func (s *Store) Sweep(ctx context.Context) int {
	now := s.cfg.Now()
	s.mu.Lock()
	mounted := map[PodRef]time.Time{}
	for k, e := range s.entries {
		if e.lastMount.After(mounted[k.Pod]) {
			mounted[k.Pod] = e.lastMount
		}
	}
	s.mu.Unlock()
	states := make(map[PodRef]pods.State, len(mounted))
	for p, m := range mounted {
		states[p] = s.state(p, m)
	}

	var gone, leases []keyed
	var tokens []*tokenState
	dropped := 0
	s.mu.Lock()
	for k, e := range s.entries {
		st, ok := states[k.Pod]
		if !ok {
			st = pods.Alive // kept since the snapshot: it just mounted
		}
		switch {
		case st == pods.Gone:
			gone = append(gone, keyed{k, e})
		case !now.Before(e.end()):
		case st == pods.Unknown && now.Sub(e.lastMount) >= s.cfg.IdleRevoke:
			s.event(EventForget)
			klog.V(2).InfoS("a pod of unknown liveness stopped mounting: its dynamic secret is no longer renewed and expires at its TTL (not revoked)",
				"pod", podRef(k.Pod), "lease", e.leaseID, "expires", e.end())
		default:
			if e.renewDue(now) {
				e.renewing = true
				leases = append(leases, keyed{k, e})
			}
			if t := e.tok; t != nil && t.renewDue(now) {
				t.renewing = true
				tokens = append(tokens, t)
			}
			s.warnFinal(k, e, now)
			continue
		}
		s.remove(k, e)
		dropped++
	}
	s.mu.Unlock()
	for _, g := range gone {
		klog.V(2).InfoS("pod gone: revoking its dynamic secret", "pod", podRef(g.key.Pod), "lease", g.e.leaseID)
		s.revoke(g.e)
	}
	for _, t := range tokens {
		if !s.submit(t.owner, fmt.Sprintf("token-renew/%p", t), func(ctx context.Context) { s.renewToken(ctx, t) }) {
			s.unmark(&t.renewing)
		}
	}
	for _, l := range leases {
		if !s.submit(l.e.owner, "lease-renew/"+l.e.leaseID, func(ctx context.Context) { s.renewInBackground(ctx, l.key, l.e) }) {
			s.unmark(&l.e.renewing)
		}
	}
	return dropped
}

type keyed struct {
	key Key
	e   *entry
}

// submit queues work on the background pool; without one (a Store used
// without Run) it runs now. It reports false when the work was not queued
// (a duplicate or a full queue): the next sweep asks again.
func (s *Store) submit(o Owner, id string, job background.Job) bool {
	if s.cfg.Background == nil {
		ctx, cancel := context.WithTimeout(context.Background(), background.DefaultTimeout)
		defer cancel()
		job(ctx)
		return true
	}
	return s.cfg.Background.Submit(o.Address, id, job)
}

// unmark clears a renewing flag of work that was not queued.
func (s *Store) unmark(flag *bool) {
	s.mu.Lock()
	*flag = false
	s.mu.Unlock()
}

// renewInBackground renews e's lease without a Mount.
func (s *Store) renewInBackground(ctx context.Context, key Key, e *entry) {
	ttl, err := s.api.Renew(ctx, e.owner, e.leaseID, e.duration)
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e.renewing = false
	if s.entries[key] != e {
		return
	}
	if err != nil {
		s.event(EventRenewFailed)
		klog.InfoS("Vault did not renew the lease of a running pod's dynamic secret; retrying at the next sweep until it ends",
			"pod", podRef(key.Pod), "lease", e.leaseID, "ends", e.end(), "err", err)
		return
	}
	s.event(EventRenew)
	e.renewed(now, ttl, e.duration)
	s.dirty = true
	s.warnFinal(key, e, now)
}

// renewToken extends a token that holds running pods' leases.
func (s *Store) renewToken(ctx context.Context, t *tokenState) {
	ttl, renewable, err := s.api.RenewToken(ctx, t.owner, t.ttl)
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t.renewing = false
	if err != nil {
		s.event(EventTokenRenewFailed)
		if refusal(err) {
			t.final = true // Vault will not: its leases end with it
			s.dirty = true
		}
		klog.InfoS("Vault did not renew the token that holds running pods' dynamic secrets (Vault revokes them when it expires)",
			"expires", t.expires, "final", t.final, "err", err)
		return
	}
	s.event(EventTokenRenew)
	t.expires, t.lastRenew, t.renewable = now.Add(ttl), now, renewable
	s.dirty = true
	if !renewable || ttl < t.ttl {
		t.final = true // at its max TTL (token_max_ttl)
	}
}

// refusal reports whether Vault answered err with a client error (the
// token is not renewable, or may not renew itself): asking again will not
// help, unlike a timeout or a 5xx.
func refusal(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != http.StatusTooManyRequests
}

// warnFinal logs, once per secret, when a running pod's secret has an end
// no renewal can move: only a Mount in the last third of its life (the
// driver's rotation) can replace it; mu is held.
func (s *Store) warnFinal(key Key, e *entry, now time.Time) {
	end := e.finalEnd()
	if e.warned || end.IsZero() || e.leaseID == "" {
		return
	}
	e.warned = true
	klog.InfoS("a running pod's dynamic secret ends at its max TTL or its Vault token's (token_max_ttl); the driver replaces it only if it calls Mount before then (rotation enabled)",
		"pod", podRef(key.Pod), "lease", e.leaseID, "ends", end, "in", end.Sub(now).Round(time.Second))
}

// revoke revokes e's lease in the background with the token that created
// it, unless that token has expired (Vault revoked the lease with it).
func (s *Store) revoke(e *entry) {
	if e.leaseID == "" {
		return
	}
	if end := e.tokenEnd(); !end.IsZero() && !s.cfg.Now().Before(end) {
		return
	}
	s.submit(e.owner, "lease-revoke/"+e.leaseID, func(ctx context.Context) {
		if err := s.api.Revoke(ctx, e.owner, e.leaseID); err != nil {
			s.event(EventRevokeFailed)
			klog.InfoS("could not revoke the lease of a gone pod; it expires at its TTL (grant update on sys/leases/revoke/<path>/* to the role's policy)",
				"lease", e.leaseID, "err", err)
			return
		}
		s.event(EventRevoke)
		klog.V(2).InfoS("revoked the lease of a gone pod", "lease", e.leaseID)
	})
}
