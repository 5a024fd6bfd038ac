package dynamic

import (
	"time"

	vault "github.com/hashicorp/vault/api"
)

type action int

const (
	actionReuse action = iota // hand out the kept secret
	actionRenew               // renew its lease first
	actionIssue               // ask Vault for a new one
)

// entry is one kept secret and what is known of its lifetime.
type entry struct {
	secret *vault.Secret
	owner  Owner

	leaseID   string
	renewable bool
	duration  time.Duration // lease duration at issue: the renewal increment

	start     time.Time // issue time, or the certificate's NotBefore
	lastRenew time.Time // issue or last renewal
	expires   time.Time // end of the current lease (zero: no lease)
	// lifeEnd is the latest end the secret can have: its certificate's
	// NotAfter, its token's expiry (Vault revokes a token's leases with
	// it), or the lease's max TTL once a renewal came back shortened.
	// Zero: unknown.
	lifeEnd time.Time

	lastMount time.Time
}

// newEntry returns the entry for a secret Vault just issued, or nil if it
// is not dynamic (no lease and no certificate): such answers are not kept.
func newEntry(sec *vault.Secret, owner Owner, now time.Time) *entry {
	if sec == nil {
		return nil
	}
	e := &entry{secret: sec, owner: owner, start: now, lastRenew: now, lastMount: now}
	dynamic := false
	if sec.LeaseID != "" && sec.LeaseDuration > 0 {
		dynamic = true
		e.leaseID, e.renewable = sec.LeaseID, sec.Renewable
		e.duration = time.Duration(sec.LeaseDuration) * time.Second
		e.expires = now.Add(e.duration)
		e.lifeEnd = earlier(e.lifeEnd, owner.TokenExpires)
	}
	if notBefore, notAfter, ok := certificateTimes(sec); ok {
		dynamic = true
		e.lifeEnd = earlier(e.lifeEnd, notAfter)
		if notBefore.Before(now) {
			e.start = notBefore // validity counts from NotBefore (Vault backdates it)
		}
	}
	if !dynamic {
		return nil
	}
	return e
}

// end is when the secret stops being usable.
func (e *entry) end() time.Time {
	return earlier(e.expires, e.lifeEnd)
}

// due says what a Mount at now must do: hand the secret out, renew its
// lease (two thirds of the lease's duration have passed), or get a new one
// (it ends within a tenth of its lease, it is in the last third of its
// life, or its lease is due and cannot be renewed).
func (e *entry) due(now time.Time) action {
	if end := e.end(); !end.IsZero() && !now.Before(end.Add(-e.margin())) {
		return actionIssue
	}
	if !e.lifeEnd.IsZero() && !now.Before(twoThirds(e.start, e.lifeEnd)) {
		return actionIssue
	}
	if e.leaseID != "" && !now.Before(twoThirds(e.lastRenew, e.expires)) {
		if e.renewable {
			return actionRenew
		}
		return actionIssue
	}
	return actionReuse
}

// margin is how close to its end a secret is no longer handed out: a
// tenth of its lease, at most expiryMargin.
func (e *entry) margin() time.Duration {
	if e.duration > 0 {
		return min(e.duration/10, expiryMargin)
	}
	return expiryMargin
}

// renewed records a renewal at now that granted ttl for increment: a
// shorter grant than asked means the lease reached its max TTL.
func (e *entry) renewed(now time.Time, ttl, increment time.Duration) {
	e.lastRenew = now
	e.expires = now.Add(ttl)
	if ttl < increment {
		e.lifeEnd = earlier(e.lifeEnd, e.expires)
	}
}

func twoThirds(from, to time.Time) time.Time {
	return from.Add(to.Sub(from) * 2 / 3)
}

// earlier returns the earlier of two times, a zero time meaning unknown.
func earlier(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	default:
		return b
	}
}
