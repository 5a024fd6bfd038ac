package auth

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// maxRefusedPaths bounds the policy refusals remembered per token.
const maxRefusedPaths = 64

// cachedToken is one identity's Vault token.
type cachedToken struct {
	token     string
	renewable bool
	ttl       time.Duration // granted at login (or at the last renewal)
	expires   time.Time
	// obtained is when Vault issued it (its login).
	obtained time.Time
	// refused holds the requests ("GET secret/data/x") Vault refused this
	// token: policy refusals, which a new login would not change.
	refused map[string]bool
	// stale: a refusal asked for a fresh login; not handed out again.
	stale bool
	// forced are the times of the identity's recent logins that refusals
	// asked for (this token's among them, if its login was one).
	forced []time.Time
}

// maxForcedLogins bounds the logins refusals ask for, per identity and
// ReloginAfter.
const maxForcedLogins = 3

// recentForced returns forced without the times before since.
func recentForced(forced []time.Time, since time.Time) []time.Time {
	var out []time.Time
	for _, f := range forced {
		if !f.Before(since) {
			out = append(out, f)
		}
	}
	return out
}

// tokenCache is a bounded LRU of Vault tokens per identity key. No token
// is ever revoked: one replaced by a new login, pushed out of the cache or
// refused expires on its own within its TTL, and revoking it would make
// Vault revoke every lease it created — the dynamic secrets (database
// credentials, …) that pods are using.
type tokenCache struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, *cachedToken]
}

func newTokenCache(max int) *tokenCache {
	c := &tokenCache{}
	// NewLRU fails only for a size below 1, which NewManager prevents.
	c.lru, _ = simplelru.NewLRU[string, *cachedToken](max, nil)
	return c
}

// fresh returns (a copy of) the token cached under key while more than a
// fifth of the lifetime Vault granted is left.
func (c *tokenCache) fresh(key string, now time.Time) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Get(key)
	if !ok || t.stale || !now.Add(t.ttl/5).Before(t.expires) {
		return cachedToken{}, false
	}
	cp := *t
	cp.refused = nil
	return cp, true
}

// peek returns a copy of the entry under key without marking it used.
func (c *tokenCache) peek(key string) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Peek(key)
	if !ok {
		return cachedToken{}, false
	}
	cp := *t
	cp.refused = nil
	return cp, true
}

// store caches t under key, replacing the identity's previous token (which
// is left to expire, see tokenCache) and pushing out the least recently
// used identity if the cache is full.
func (c *tokenCache) store(key string, t *cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(key, t)
}

// renewed records a renewal of the token under key, if it is still cached.
func (c *tokenCache) renewed(key, token string, renewable bool, ttl time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.lru.Peek(key); ok && t.token == token {
		t.renewable, t.ttl, t.expires = renewable, ttl, now.Add(ttl)
	}
}

// noteRefused remembers that Vault refused the token under key at path.
func (c *tokenCache) noteRefused(key, token, path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Peek(key)
	if !ok || t.token != token {
		return
	}
	t.note(path)
}

func (t *cachedToken) note(path string) {
	if t.refused == nil {
		t.refused = map[string]bool{}
	}
	if len(t.refused) < maxRefusedPaths {
		t.refused[path] = true
	}
}

// refusal is what a 403 at a path on a token taken from the cache means.
type refusal int

const (
	// refusalReplaced: the cache holds another token for the identity now
	// (or will log in again); asking for a token again gets the new one.
	refusalReplaced refusal = iota
	// refusalKnown: Vault refused that path to this token while it was
	// fresh (remembered), or the identity's refusals asked for as many
	// logins as they may within minAge (not remembered: a later refusal
	// may ask again).
	refusalKnown
	// refusalRelogin: the token was marked stale: the next caller logs in
	// again (a role may have gained a policy since this token's login).
	refusalRelogin
)

// classify tells what a 403 at path on token, cached under key, means at
// now, and marks the token stale when a fresh login is due: at most
// maxForcedLogins such logins per identity per minAge, whatever paths a
// class asks for.
func (c *tokenCache) classify(key, token, path string, now time.Time, minAge time.Duration) refusal {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Peek(key)
	if !ok || t.token != token || t.stale {
		return refusalReplaced
	}
	if t.refused[path] {
		return refusalKnown
	}
	if len(recentForced(t.forced, now.Add(-minAge))) >= maxForcedLogins {
		return refusalKnown
	}
	t.stale = true
	return refusalRelogin
}

// len returns the number of cached tokens.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
