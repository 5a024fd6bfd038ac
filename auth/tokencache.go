package auth

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	vault "github.com/hashicorp/vault/api"
)

// maxRefusedPaths bounds the policy refusals remembered per token.
const maxRefusedPaths = 64

// replacedTokenGrace is how long a token replaced by a new login or pushed
// out of the cache stays valid before it is revoked: Mounts that took it
// from the cache just before may still be reading with it.
const replacedTokenGrace = 30 * time.Second

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

// tokenCache is a bounded LRU of Vault tokens per identity key. A token that
// leaves it (pushed out, replaced or dropped) is revoked, best effort, so
// tokens do not pile up in Vault.
type tokenCache struct {
	revoker *revoker
	grace   time.Duration // before revoking a replaced or pushed-out token

	mu      sync.Mutex
	lru     *simplelru.LRU[string, *cachedToken]
	evicted []*cachedToken // pushed out by the last operation; mu held
}

func newTokenCache(max int, r *revoker) *tokenCache {
	c := &tokenCache{revoker: r, grace: replacedTokenGrace}
	// NewLRU fails only for a size below 1, which NewManager prevents.
	c.lru, _ = simplelru.NewLRU[string, *cachedToken](max, func(_ string, t *cachedToken) {
		c.evicted = append(c.evicted, t)
	})
	return c
}

// fresh returns the token cached under key while more than a fifth of the
// lifetime Vault granted is left.
func (c *tokenCache) fresh(key string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Get(key)
	if !ok || !now.Add(t.ttl/5).Before(t.expires) {
		return "", false
	}
	return t.token, true
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

// store caches t under key. The token it replaces, and any token pushed out
// to make room, are revoked after the grace period.
func (c *tokenCache) store(key string, t *cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.lru.Peek(key)
	c.lru.Add(key, t)
	if had && old.token != t.token {
		c.evicted = append(c.evicted, old)
	}
	c.flush(c.grace)
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

// dropUnlessKnown handles a 403 at path on a token taken from the cache. If
// the cached token is that token and was refused at path while fresh, the
// refusal is the policy's: it keeps the token and reports false. Otherwise
// it drops and revokes the token, only if it is still the cached one
// (compare and delete: a newer token that another caller obtained stays),
// and reports true: asking for a token again may help.
func (c *tokenCache) dropUnlessKnown(key, token, path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.lru.Peek(key)
	if !ok || t.token != token {
		return true
	}
	if t.refused[path] {
		return false
	}
	c.lru.Remove(key)
	c.flush(0)
	return true
}

// len returns the number of cached tokens.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// flush revokes the tokens that left the cache, after delay; mu is held.
func (c *tokenCache) flush(delay time.Duration) {
	for _, t := range c.evicted {
		c.revoker.revoke(t, delay)
	}
	c.evicted = c.evicted[:0]
}
