package provider

import (
	"container/list"
	"encoding/json"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth/keys"
)

// readScope names who reads and where: the Vault address, the TLS settings of
// the connection, the namespace and a hash of the Vault token. Only holders of
// the same token share cached or coalesced responses; the token itself is
// never kept in a key.
func readScope(address, connection, namespace, token string) string {
	return keys.Join(address, connection, namespace, keys.Hash(token))
}

// readKey is the cache and coalescing key of one request, by its key
// (secrets.Request.Key), within a scope (both length-prefixed, so the two
// cannot run together).
func readKey(scope, requestKey string) string {
	return scope + requestKey
}

// cacheable reports whether a response may be kept or shared between Mounts:
// a response with a lease is a dynamic secret (e.g. database/creds/<role>)
// that every pod must get for itself.
func cacheable(s *vault.Secret) bool {
	return s != nil && s.LeaseID == ""
}

// secretCache keeps GET responses for a fixed TTL, at most max entries and
// maxBytes bytes (each entry counted as its data's JSON and its key). All
// entries live equally long, so insertion order is expiry order: expired
// entries are dropped from the front of the list on every access, and when
// the cache is full the oldest entries go first. An answer larger than an
// eighth of maxBytes is not kept.
type secretCache struct {
	ttl      time.Duration
	max      int
	maxBytes int
	now      func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // key → element holding *cacheEntry
	order   *list.List               // oldest first
	bytes   int
}

type cacheEntry struct {
	key     string
	secret  *vault.Secret
	expires time.Time
	size    int
}

// DefaultSecretCacheBytes bounds the secret cache's bytes.
const DefaultSecretCacheBytes = 64 << 20

func newSecretCache(ttl time.Duration, max, maxBytes int, now func() time.Time) *secretCache {
	if maxBytes <= 0 {
		maxBytes = DefaultSecretCacheBytes
	}
	return &secretCache{ttl: ttl, max: max, maxBytes: maxBytes, now: now, entries: map[string]*list.Element{}, order: list.New()}
}

// sizeOf estimates what an entry holds in memory.
func sizeOf(key string, s *vault.Secret) int {
	b, _ := json.Marshal(s.Data)
	return len(key) + len(b) + 256
}

// get returns the fresh response cached under key. Callers must not modify it:
// it is shared with other Mounts.
func (c *secretCache) get(key string) (*vault.Secret, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropExpired(c.now())
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	return el.Value.(*cacheEntry).secret, true
}

// put stores s under key for the cache's TTL.
func (c *secretCache) put(key string, s *vault.Secret) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.dropExpired(now)
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	size := sizeOf(key, s)
	if size > c.maxBytes/8 {
		return
	}
	for c.order.Len() >= c.max || (c.order.Len() > 0 && c.bytes+size > c.maxBytes) {
		c.remove(c.order.Front())
	}
	c.entries[key] = c.order.PushBack(&cacheEntry{key: key, secret: s, expires: now.Add(c.ttl), size: size})
	c.bytes += size
}

// len returns the number of entries, expired or not.
func (c *secretCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

func (c *secretCache) dropExpired(now time.Time) {
	for el := c.order.Front(); el != nil && !now.Before(el.Value.(*cacheEntry).expires); el = c.order.Front() {
		c.remove(el)
	}
}

func (c *secretCache) remove(el *list.Element) {
	e := el.Value.(*cacheEntry)
	delete(c.entries, e.key)
	c.bytes -= e.size
	c.order.Remove(el)
}
