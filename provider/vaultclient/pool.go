package vaultclient

import (
	"crypto/x509"
	"encoding/json"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"

	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
	"github.com/vaultazure/vault-azure-csi-provider/auth/keys"
	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// Pool defaults: SecretProviderClasses choose vaultAddress and the TLS
// parameters, so a namespace user controls the keys; the pool stays small.
const (
	DefaultMaxClients  = 64
	DefaultIdleTimeout = 10 * time.Minute
)

// Pool hands out one base client per (address, TLS settings), keeping at
// most a bounded number: the least recently used goes first, and a client
// unused for the idle timeout is dropped. Dropped clients close their idle
// connections. Base clients carry no token and no namespace: callers clone
// them per use.
type Pool struct {
	timeout  time.Duration
	observer observe.Observer // nil: no requests counted
	idle     time.Duration
	maxBody  int64 // bytes read of a successful answer
	// budget bounds the bytes of answers being read at once, over every
	// client of the pool and per namespace.
	budget *budget
	now    func() time.Time

	builds singleflight.Group // one build per key at a time

	mu      sync.Mutex
	clients *simplelru.LRU[string, *pooled]
	dropped []*vault.Client // by the current operation; mu held
}

type pooled struct {
	client *vault.Client
	used   time.Time
}

// PoolOption tunes a Pool.
type PoolOption func(*Pool, *int)

// WithMaxClients bounds the pool (default DefaultMaxClients).
func WithMaxClients(n int) PoolOption {
	return func(_ *Pool, max *int) {
		if n > 0 {
			*max = n
		}
	}
}

// WithMaxBody bounds the bytes read of a successful answer (default
// DefaultMaxBody).
func WithMaxBody(n int64) PoolOption {
	return func(p *Pool, _ *int) {
		if n > 0 {
			p.maxBody = n
		}
	}
}

// DefaultMaxBody is the driver's default receive limit and 64 KiB of
// envelope: a Mount's files are bounded by --max-mount-bytes.
const DefaultMaxBody = 4<<20 + 64<<10

// WithIdleTimeout drops clients unused this long (default DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) PoolOption {
	return func(p *Pool, _ *int) {
		if d > 0 {
			p.idle = d
		}
	}
}

// NewPool returns a Pool whose clients time out requests after timeout and,
// if observer is not nil, report every HTTP request's kind and status to it.
func NewPool(timeout time.Duration, observer observe.Observer, opts ...PoolOption) *Pool {
	p := &Pool{timeout: timeout, observer: observer, idle: DefaultIdleTimeout, maxBody: DefaultMaxBody, now: time.Now}
	size := DefaultMaxClients
	for _, o := range opts {
		o(p, &size)
	}
	// Room for at least two of the largest answers, in all and per namespace.
	p.budget = newBudget(max(DefaultBodyBudget, 4*p.maxBody), max(DefaultNamespaceBodyShare, 2*p.maxBody))
	// NewLRU fails only for a size below 1.
	p.clients, _ = simplelru.NewLRU[string, *pooled](size, func(_ string, c *pooled) { p.dropped = append(p.dropped, c.client) })
	return p
}

// Get returns the base client for address and tls. A new one is built
// outside the pool's lock (reading the TLS files a class names takes what
// it takes: no other Mount waits for it), once for concurrent callers.
func (p *Pool) Get(address string, tls params.TLS) (*vault.Client, error) {
	conn, _ := json.Marshal(tls)
	key := keys.Join(address, string(conn))
	if c, ok := p.cached(key); ok {
		return c, nil
	}
	v, err, _ := p.builds.Do(key, func() (v any, err error) {
		defer guard.Recover("building a Vault client", &err)
		if c, ok := p.cached(key); ok {
			return c, nil
		}
		c, err := p.newClient(address, tls)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.clients.Add(key, &pooled{client: c, used: p.now()})
		p.mu.Unlock()
		p.closeDropped()
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*vault.Client), nil
}

// cached returns the pooled client under key, dropping idle ones first.
func (p *Pool) cached(key string) (*vault.Client, bool) {
	p.mu.Lock()
	defer p.closeDropped()
	defer p.mu.Unlock()
	now := p.now()
	for _, oldest, ok := p.clients.GetOldest(); ok && now.Sub(oldest.used) >= p.idle; _, oldest, ok = p.clients.GetOldest() {
		p.clients.RemoveOldest()
	}
	c, ok := p.clients.Get(key)
	if !ok {
		return nil, false
	}
	c.used = now
	return c.client, true
}

// Len returns the number of pooled clients.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clients.Len()
}

// closeDropped closes the idle connections of the clients dropped by the
// last operation (in-flight requests finish on their own).
func (p *Pool) closeDropped() {
	p.mu.Lock()
	dropped := p.dropped
	p.dropped = nil
	p.mu.Unlock()
	for _, c := range dropped {
		if hc := c.CloneConfig().HttpClient; hc != nil {
			hc.CloseIdleConnections()
		}
	}
}

// Prepare does ahead of the first Mount what it would wait for: the
// system's trusted roots are loaded (the first TLS handshake's job
// otherwise) and, for address (the provider's --vault-addr, if any), the
// client with default TLS settings is built. Failures are left for the
// Mount to report.
func (p *Pool) Prepare(address string) {
	_, _ = x509.SystemCertPool()
	if address != "" {
		_, _ = p.Get(address, params.TLS{})
	}
}
