package auth

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	vault "github.com/hashicorp/vault/api"
)

// maxRefusedPaths bounds the policy refusals remembered per token.
const maxRefusedPaths = 64

// cachedToken is one identity's Vault token.
type cachedToken struct {
	token     string
	renewable bool
	ttl       time.Duration // granted at login (or at the last renewal)
	expires   time.Time
	// refused holds the requests ("GET secret/data/x") Vault refused this
	// token while it was fresh: policy refusals, which a new login would
	// not change.
	refused map[string]bool
	// client and namespace reach the Vault that issued the token, to revoke it.
	client    *vault.Client
	namespace string
}

// tokenCache is a bounded LRU of Vault tokens per identity key. A token
// dropped because Vault refused it is revoked, best effort, so such tokens
// do not pile up in Vault. A token replaced by a new login, or pushed out
// of the cache, is not: it expires on its own within its TTL, and revoking
// it would make Vault revoke every lease it created — the dynamic secrets
// (database credentials, …) that pods are using.
type tokenCache struct {
	revoker *revoker

	mu  sync.Mutex
	lru *simplelru.LRU[string, *cachedToken]
}

func newTokenCache(max int, r *revoker) *tokenCache {
	c := &tokenCache{revoker: r}
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
	if !ok || !now.Add(t.ttl/5).Before(t.expires) {
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

// noteRefused remembers that Vault refused the fresh token under key at path.
func (c *tokenCache) noteRefused(key, token, path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Peek(key)
	if !ok || t.token != token {
		return
	}
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
	// (compare and delete: a newer token another caller obtained stays);
	// asking for a token again gets it.
	refusalReplaced refusal = iota
	// refusalKnown: Vault refused that path to this token while it was
	// valid: the policy's answer.
	refusalKnown
	// refusalUnknown: the token may be dead (revoked, Vault restarted) or
	// the policy may refuse the path: to be checked.
	refusalUnknown
)

// classify tells what a 403 at path on token, cached under key, means, and
// returns a copy of the cached entry.
func (c *tokenCache) classify(key, token, path string) (refusal, cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Peek(key)
	if !ok || t.token != token {
		return refusalReplaced, cachedToken{}
	}
	if t.refused[path] {
		return refusalKnown, cachedToken{}
	}
	cp := *t
	cp.refused = nil
	return refusalUnknown, cp
}

// drop removes token from the cache and revokes it, only if it is still
// the one cached under key. Compare and delete: between the 403 that made
// the caller suspect the token and this call, another caller may have
// logged in again; its newer token, and the leases it created, must stay.
func (c *tokenCache) drop(key, token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Peek(key)
	if !ok || t.token != token {
		return
	}
	c.lru.Remove(key)
	c.revoker.revoke(t)
}

// len returns the number of cached tokens.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
