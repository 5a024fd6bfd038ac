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

	start     time.Time // issue time
	lastRenew time.Time // issue or last renewal
	expires   time.Time // end of the current lease (zero: no lease)
	// maxEnd is the latest end the secret itself can have: its
	// certificate's NotAfter, or its lease's max TTL once a renewal came
	// back shortened. Zero: unknown.
	maxEnd time.Time
	// tok is the token that created the lease: Vault revokes the lease
	// when it expires. Nil: no lease, or the token is unknown.
	tok *tokenState

	lastMount time.Time
	renewing  bool // a background renewal of its lease is queued or running
	warned    bool // its end without replacement was logged
}

// tokenState is a Vault token that created leases kept for pods, shared by
// their entries: renewing it (in the background, while a pod that holds one
// of its leases runs) keeps those leases alive.
type tokenState struct {
	owner     Owner
	ttl       time.Duration // the increment of its renewals
	renewable bool
	expires   time.Time // zero: unknown
	lastRenew time.Time
	// final: it cannot be extended (not renewable, refused, or its last
	// renewal came back shortened by its max TTL): its leases end with it.
	final    bool
	refs     int
	renewing bool
}

func newTokenState(o Owner, now time.Time) *tokenState {
	t := &tokenState{owner: o, ttl: o.TokenTTL, renewable: o.TokenRenewable, expires: o.TokenExpires, lastRenew: now}
	if t.expires.IsZero() || t.ttl <= 0 || !t.renewable {
		t.final = true
	}
	return t
}

// renewDue reports whether the token is two thirds through its TTL and may
// be extended.
func (t *tokenState) renewDue(now time.Time) bool {
	return !t.final && !t.renewing && !now.Before(twoThirds(t.lastRenew, t.expires))
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
	}
	if notAfter, ok := certificateNotAfter(sec); ok {
		// Its validity counts from now, not from NotBefore: Vault backdates
		// NotBefore (30 s by default), which would make a short-lived
		// certificate look two thirds gone when it is new.
		dynamic = true
		e.maxEnd = notAfter
	}
	if !dynamic {
		return nil
	}
	return e
}

// tokenEnd is when the token that created the lease expires (zero: unknown).
func (e *entry) tokenEnd() time.Time {
	if e.tok == nil {
		return time.Time{}
	}
	return e.tok.expires
}

// end is when the secret stops being usable.
func (e *entry) end() time.Time {
	return earlier(earlier(e.expires, e.maxEnd), e.tokenEnd())
}

// finalEnd is the end that no renewal can move: the secret's max life, or
// its token's once that cannot be extended. Zero: none known.
func (e *entry) finalEnd() time.Time {
	end := e.maxEnd
	if e.tok != nil && e.tok.final {
		end = earlier(end, e.tok.expires)
	}
	return end
}

// due says what a Mount at now, made with the token of current, must do:
// hand the secret out, renew its lease (two thirds of the lease's duration
// have passed), or get a new one — when it is about to end; when it is in
// the last third of the life it can have (its certificate's validity, its
// lease's max TTL); when the token that created its lease cannot be
// extended and the Mount has a newer one (the provider logs in again with
// a fifth of a token's TTL left: a secret made with the new token lives
// longer, and the old one stays valid meanwhile for the app to switch); or
// when its lease is due and cannot be renewed. A lease whose token is
// still renewed in the background is kept whatever token the Mount has.
func (e *entry) due(now time.Time, current Owner) action {
	if end := e.end(); !end.IsZero() && !now.Before(end.Add(-e.margin())) {
		return actionIssue
	}
	if !e.maxEnd.IsZero() && !now.Before(twoThirds(e.start, e.maxEnd)) {
		return actionIssue
	}
	if e.tok != nil && e.tok.final && current.Token != "" && current.Token != e.owner.Token {
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
// tenth of its lease (or, without one, of its life), at most expiryMargin.
func (e *entry) margin() time.Duration {
	span := e.duration
	if span <= 0 {
		span = e.end().Sub(e.start)
	}
	return min(span/10, expiryMargin)
}

// renewDue reports whether a background renewal of the lease is due.
func (e *entry) renewDue(now time.Time) bool {
	return e.leaseID != "" && e.renewable && !e.renewing && !now.Before(twoThirds(e.lastRenew, e.expires))
}

// renewed records a renewal at now that granted ttl for increment: a
// shorter grant than asked means the lease reached its max TTL.
func (e *entry) renewed(now time.Time, ttl, increment time.Duration) {
	e.lastRenew = now
	e.expires = now.Add(ttl)
	if ttl < increment {
		e.maxEnd = earlier(e.maxEnd, e.expires)
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
