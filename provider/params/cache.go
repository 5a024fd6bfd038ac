package params

import (
	"crypto/sha256"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// Cache remembers the Params of recent MountRequests: a pod's Mounts send
// the same attributes until the kubelet renews its tokens, and decoding
// the objects YAML and the attributes JSON was most of a warm Mount's CPU.
// Entries are keyed by a hash of the request's fields, bounded in number
// and in bytes; a class that floods it with distinct requests only makes
// other pods' Mounts parse again, as without the cache. Failed parses are
// not remembered. The Params handed out are shared: callers must not
// modify them.
type Cache struct {
	methods  auth.Methods
	maxBytes int

	mu    sync.Mutex
	lru   *simplelru.LRU[[sha256.Size]byte, cached]
	bytes int
}

type cached struct {
	params *Params
	size   int
}

// NewCache parses with methods and keeps at most entries Params, of
// requests totalling at most maxBytes of attributes.
func NewCache(methods auth.Methods, entries, maxBytes int) *Cache {
	c := &Cache{methods: methods, maxBytes: maxBytes}
	c.lru, _ = simplelru.NewLRU(max(entries, 1), func(_ [sha256.Size]byte, v cached) { c.bytes -= v.size })
	return c
}

// Parse is Parse(attributes, permission, methods), from the cache when the
// same request was parsed before.
func (c *Cache) Parse(attributes, permission string) (*Params, error) {
	h := sha256.New()
	h.Write([]byte(permission))
	h.Write([]byte{0})
	h.Write([]byte(attributes))
	var key [sha256.Size]byte
	h.Sum(key[:0])
	c.mu.Lock()
	e, ok := c.lru.Get(key)
	c.mu.Unlock()
	if ok {
		return e.params, nil
	}
	p, err := Parse(attributes, permission, c.methods)
	if err != nil {
		return nil, err
	}
	size := len(attributes) + len(permission)
	if size > c.maxBytes/8 {
		return p, nil // one request may not take the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(key) {
		return p, nil // parsed meanwhile by another Mount
	}
	c.lru.Add(key, cached{params: p, size: size})
	c.bytes += size
	for c.bytes > c.maxBytes && c.lru.Len() > 0 {
		c.lru.RemoveOldest()
	}
	return p, nil
}

// Len is the number of Params remembered.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
