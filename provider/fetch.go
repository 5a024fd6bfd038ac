package provider

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
)

// fetchObjects reads the objects in parallel (bounded), making one Vault call
// per distinct request, and returns their contents in object order. Any error
// fails the whole Mount: the driver never gets a partial set. scope (see
// readScope) names the token and connection that c carries; holder is the
// pod and identity that dynamic secrets are kept for.
func (p *Provider) fetchObjects(ctx context.Context, mc *mountClient, scope string, objs []params.Object, holder holder) ([][]byte, error) {
	via := secrets.Via{Connection: holder.owner.Connection, Gate: func(ctx context.Context) (func(), error) {
		return p.shares.Acquire(ctx, holder.owner.Address, holder.pod.Namespace)
	}}
	reqs, reqKeys, objReq, err := p.resolveRequests(ctx, mc, via, objs)
	if err != nil {
		return nil, err
	}
	f := &fetch{p: p, mc: mc, via: via, scope: scope, slots: newLimiter(p.cfg.ObjectConcurrency, "this mount's concurrent reads"), responses: make([]*vault.Secret, len(reqs)),
		owner: holder.owner, reqKeys: reqKeys, keys: p.dynamicKeys(holder, reqKeys, objs, objReq), began: time.Now()}
	if err := f.run(ctx, reqs); err != nil {
		return nil, err
	}
	contents := make([][]byte, len(objs))
	for i, obj := range objs {
		b, err := secrets.Content(f.responses[objReq[i]], obj)
		if err != nil {
			return nil, &ContentError{Index: i, Err: err}
		}
		contents[i] = b
	}
	return contents, nil
}

// resolveRequests returns the distinct Vault requests behind objs, as Vault
// needs them (see secrets.Reader.Resolve), their keys (secrets.Request.Key)
// and for each object the index of its request. Objects are compared after
// resolution, so "secret/app" and "secret/data/app" on a KV v2 mount are
// one read: one version of one secret per Mount. Mounts the cache knows are
// resolved here; the others are looked up in parallel.
func (p *Provider) resolveRequests(ctx context.Context, mc *mountClient, via secrets.Via, objs []params.Object) ([]secrets.Request, []string, []int, error) {
	written := make([]secrets.Request, len(objs))
	for i, obj := range objs {
		written[i] = secrets.RequestFor(obj)
	}
	unique, _, objUnique := distinctRequests(written)
	resolved := make([]secrets.Request, len(unique))
	var missed []int // mounts not cached: asked of Vault in parallel
	for i, r := range unique {
		var ok bool
		if resolved[i], ok = p.reader.ResolveCached(mc.address, mc.namespace, via, r); !ok {
			missed = append(missed, i)
		}
	}
	if len(missed) > 0 {
		c, err := mc.get()
		if err != nil {
			return nil, nil, nil, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(p.cfg.ObjectConcurrency)
		for _, i := range missed {
			r := unique[i]
			g.Go(func() (err error) {
				defer guard.Recover("finding the KV version of "+r.Path, &err)
				resolved[i], err = p.reader.Resolve(gctx, c, via, r)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, nil, nil, err
		}
	}
	reqs, reqKeys, resolvedReq := distinctRequests(resolved)
	objReq := make([]int, len(objs))
	for i := range objs {
		objReq[i] = resolvedReq[objUnique[i]]
	}
	return reqs, reqKeys, objReq, nil
}

// distinctRequests returns the distinct requests of rs, their keys and,
// for each element of rs, the index of its distinct request.
func distinctRequests(rs []secrets.Request) ([]secrets.Request, []string, []int) {
	out := make([]secrets.Request, 0, len(rs))
	outKeys := make([]string, 0, len(rs))
	which := make([]int, len(rs))
	for i, r := range rs {
		k := r.Key()
		idx := slices.Index(outKeys, k) // a Mount has a few objects: no map
		if idx < 0 {
			idx = len(out)
			out = append(out, r)
			outKeys = append(outKeys, k)
		}
		which[i] = idx
	}
	return out, outKeys, which
}

// fetch is one Mount's reads. GETs come from the secret cache, or from a
// read shared with the other Mounts that hold the same token and want the
// same path at the same time; this Mount waits for those in its own
// goroutine. POST and PUT (dynamic secrets) make their own call, and so
// does a GET whose shared answer turns out to carry a lease: every pod gets
// its own dynamic secret — and keeps it (see provider/dynamic) until it
// must be renewed or replaced, unless its objects say reuse: false.
type fetch struct {
	p         *Provider
	mc        *mountClient
	via       secrets.Via // TLS settings and the Mount's share of Vault calls
	scope     string
	slots     *limiter // this Mount's bound on the Vault calls it starts
	responses []*vault.Secret
	owner     dynamic.Owner
	reqKeys   []string      // per request: secrets.Request.Key
	keys      []dynamic.Key // per request; no pod UID: not kept
	began     time.Time     // when the reads began (see dynamic.Store.Keep)

	wg       sync.WaitGroup
	errOnce  sync.Once
	firstErr error
	cancel   context.CancelFunc
}

type joined struct {
	index  int
	key    string
	req    secrets.Request
	flight *flight
	shared bool
}

func (f *fetch) run(ctx context.Context, reqs []secrets.Request) error {
	ctx, f.cancel = context.WithCancel(ctx)
	defer f.cancel()
	var waits []joined
	for i, r := range reqs {
		if r.Method != http.MethodGet || f.kept(i) {
			f.own(ctx, i, r)
			continue
		}
		key := readKey(f.scope, f.reqKeys[i])
		if s, ok := f.p.cached(key, r); ok {
			f.responses[i] = s // no goroutine and no wait for a cache hit
			continue
		}
		fl, shared := f.p.flights.join(ctx, key, f.sharedRead(key, r))
		waits = append(waits, joined{index: i, key: key, req: r, flight: fl, shared: shared})
	}
	for n, j := range waits {
		s, err := f.p.flights.wait(ctx, j.key, j.flight)
		if err != nil {
			f.fail(err)
			for _, rest := range waits[n+1:] {
				f.p.flights.leave(rest.key, rest.flight)
			}
			break
		}
		if j.shared && !cacheable(s) {
			klog.V(4).InfoS("shared read returned a leased secret, reading one for this mount", "path", j.req.Path)
			f.own(ctx, j.index, j.req)
			continue
		}
		if j.shared {
			klog.V(4).InfoS("joined an identical read in flight", "path", j.req.Path)
		} else if !cacheable(s) && f.keys[j.index].Pod.UID != "" {
			s = f.p.dynamic.Keep(f.keys[j.index], s, f.owner, f.began) // this Mount's own lease
		}
		f.responses[j.index] = s
	}
	f.wg.Wait()
	return f.firstErr
}

// fail records the Mount's first error and stops its other reads.
func (f *fetch) fail(err error) {
	f.errOnce.Do(func() {
		f.firstErr = err
		f.cancel()
	})
}

// own reads r for this Mount alone, in a goroutine: the pod's kept
// dynamic secret if it has one and it may be used, else a new one.
func (f *fetch) own(ctx context.Context, i int, r secrets.Request) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		var s *vault.Secret
		var err error
		defer func() {
			if err != nil {
				f.fail(err)
			}
		}()
		defer guard.Recover("reading "+r.Path, &err)
		if f.keys[i].Pod.UID != "" {
			s, err = f.p.dynamic.Obtain(ctx, f.keys[i], f.owner, func(ctx context.Context) (*vault.Secret, error) { return f.read(ctx, r) })
		} else {
			s, err = f.read(ctx, r)
		}
		if err == nil {
			f.responses[i] = s
		}
	}()
}

// sharedRead is the read behind a flight that this Mount starts.
func (f *fetch) sharedRead(key string, r secrets.Request) func(context.Context) (*vault.Secret, error) {
	return func(ctx context.Context) (*vault.Secret, error) {
		if f.p.cache != nil {
			// A flight that ended between our lookup and this one cached it.
			if s, ok := f.p.cache.get(key); ok {
				return s, nil
			}
		}
		s, err := f.read(ctx, r)
		if err == nil && f.p.cache != nil && cacheable(s) {
			f.p.cache.put(key, s)
		}
		return s, err
	}
}

// read performs r within this Mount's bound on the calls it starts and
// its share of the node's Vault calls (see auth/share).
func (f *fetch) read(ctx context.Context, r secrets.Request) (*vault.Secret, error) {
	if err := f.slots.acquire(ctx); err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.Path, err)
	}
	defer f.slots.release()
	release, err := f.via.Gate(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.Path, err)
	}
	defer release()
	c, err := f.mc.get()
	if err != nil {
		return nil, err
	}
	return f.p.reader.Send(ctx, c, r)
}

// cached returns the secret cache's response to the GET r (key: readKey),
// counting the lookup.
func (p *Provider) cached(key string, r secrets.Request) (*vault.Secret, bool) {
	if p.cache == nil {
		return nil, false
	}
	s, hit := p.cache.get(key)
	p.obs.CacheLookup(observe.CacheSecret, hit)
	if hit {
		klog.V(4).InfoS("secret cache hit", "path", r.Path)
	}
	return s, hit
}

// ContentError is an object whose Vault response lacks what it asks for.
type ContentError struct {
	Index int
	Err   error
}

func (e *ContentError) Error() string { return fmt.Sprintf("objects[%d]: %v", e.Index, e.Err) }
func (e *ContentError) Unwrap() error { return e.Err }
