package secrets

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
	"github.com/vaultazure/vault-azure-csi-provider/auth/keys"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/auth/shared"
)

const (
	mountInfoTTL = 5 * time.Minute
	// DefaultMountCacheSize bounds the mounts remembered, over all Vault
	// addresses and namespaces.
	DefaultMountCacheSize = 1024
)

// mountsAPI is where Vault tells which mount serves a path, and its KV version.
const mountsAPI = "sys/internal/ui/mounts/"

// kvV2Roots are the first path segments of KV v2's own API under a mount:
// a path that starts with one is already an API path and is left alone.
var kvV2Roots = map[string]bool{
	"data": true, "metadata": true, "subkeys": true, "delete": true, "undelete": true, "destroy": true, "config": true,
}

// mountCache remembers the mounts looked up via sys/internal/ui/mounts, per
// Vault address and namespace, for mountInfoTTL. Mount information is not
// secret, so holders of different tokens share it.
type mountCache struct {
	mounts *expirable.LRU[mountKey, mountInfo]
	// lookups coalesces concurrent lookups per scope and first path
	// segment (every mount serving a path starts with its first segment,
	// and the mount is unknown before the lookup).
	lookups singleflight.Group
}

// mountKey is where a mount was looked up (see lookupScope) and its path.
type mountKey struct{ scope, path string }

type mountInfo struct {
	path string // "secret/"
	kvV2 bool
}

func newMountCache(size int) *mountCache {
	if size <= 0 {
		size = DefaultMountCacheSize
	}
	return &mountCache{mounts: expirable.NewLRU[mountKey, mountInfo](size, nil, mountInfoTTL)}
}

// apiPath returns the API path for a read of path: for a KV v2 mount,
// "secret/foo" becomes "secret/data/foo"; paths of KV v2's own API
// ("secret/data/foo", "secret/metadata/foo", "secret/subkeys/foo", …) stay.
// It fails only when Vault could not answer the mount lookup (sealed,
// unreachable) even after retries: guessing then could read the wrong path.
func (c *mountCache) apiPath(ctx context.Context, client *vault.Client, via Via, path string, retry retry.Backoff) (string, error) {
	m, ok, err := c.lookup(ctx, client, via, path, retry)
	if err != nil {
		return "", err
	}
	return kvPath(m, ok, path), nil
}

// cachedPath is apiPath when the cache knows path's mount; ok false: it
// does not.
func (c *mountCache) cachedPath(scope, path string) (string, bool) {
	m, ok := c.cached(scope, path)
	if !ok {
		return "", false
	}
	return kvPath(m, true, path), true
}

// kvPath is the API path of path on mount m (found false: unknown mount).
func kvPath(m mountInfo, found bool, path string) string {
	if !found || !m.kvV2 {
		return path
	}
	rest := strings.TrimPrefix(path, m.path)
	first, _, _ := strings.Cut(rest, "/")
	if rest == "" || !strings.HasPrefix(path, m.path) || kvV2Roots[first] {
		return path
	}
	return m.path + "data/" + rest
}

// lookupScope is where a client connects, which decides what it may be
// told of mounts: the address, the TLS settings and the namespace.
func lookupScope(address, namespace string, via Via) string {
	return keys.Join(address, via.Connection, namespace)
}

// lookupResult is what one lookup learnt: the mount serving its path, or
// nothing (found false) when Vault would not say.
type lookupResult struct {
	mount mountInfo
	found bool
}

// lookup returns the mount serving path: from the cache (the longest cached
// mount path that is a prefix of path), or from Vault. Concurrent lookups
// that may concern the same mount share one request; a caller whose path
// the shared answer does not cover tries again, joining or starting the
// next shared request, and after a few rounds asks on its own.
func (c *mountCache) lookup(ctx context.Context, client *vault.Client, via Via, path string, retry retry.Backoff) (mountInfo, bool, error) {
	// Mount information is not secret, but what a client may see depends on
	// where it connects.
	scope := lookupScope(client.Address(), client.Namespace(), via)
	first, _, _ := strings.Cut(path, "/")
	for range maxSharedLookups {
		if m, ok := c.cached(scope, path); ok {
			return m, true, nil
		}
		ch := c.lookups.DoChan(scope+first, func() (any, error) {
			sctx, cancel := shared.Context(ctx)
			defer cancel()
			return guard.Call("finding the mount of "+path, func() (any, error) { return c.fetch(sctx, client, via, scope, path, retry) })
		})
		var res singleflight.Result
		select {
		case <-ctx.Done():
			return mountInfo{}, false, lookupError(path, ctx.Err())
		case res = <-ch:
		}
		if res.Err != nil {
			return mountInfo{}, false, lookupError(path, res.Err)
		}
		r := res.Val.(lookupResult)
		if !res.Shared || (r.found && covers(r.mount, path)) {
			return r.mount, r.found, nil
		}
		// Another caller's lookup, for a path under another mount that
		// starts with the same segment, or one Vault would not describe
		// to that caller's token.
	}
	r, err := c.fetch(ctx, client, via, scope, path, retry)
	if err != nil {
		return mountInfo{}, false, lookupError(path, err)
	}
	return r.mount, r.found, nil
}

// maxSharedLookups bounds the shared lookups a caller waits for before it
// asks Vault on its own.
const maxSharedLookups = 4

// cached returns the longest cached mount that is a prefix of path. Vault
// refuses to create a mount inside another, so one mount serves a path;
// should the cache know two (after a remount), the longest is the one
// Vault's router picks.
func (c *mountCache) cached(scope, path string) (mountInfo, bool) {
	candidate := path + "/"
	for {
		if m, ok := c.mounts.Get(mountKey{scope, candidate}); ok {
			return m, true
		}
		i := strings.LastIndexByte(strings.TrimSuffix(candidate, "/"), '/')
		if i < 0 {
			return mountInfo{}, false
		}
		candidate = candidate[:i+1]
	}
}

func covers(m mountInfo, path string) bool {
	return strings.HasPrefix(path+"/", m.path)
}

// fetch asks Vault which mount serves path, retrying failures that may
// pass. A refusal or an unknown endpoint (old Vault, or a token without
// access under the mount) is no error: the path is then used as written.
func (c *mountCache) fetch(ctx context.Context, client *vault.Client, via Via, scope, path string, retry retry.Backoff) (lookupResult, error) {
	var m mountInfo
	retryable := func(err error) bool { return Retryable(ctx, http.MethodGet, err) }
	err := retry.Do(ctx, retryable, func(actx context.Context) error {
		release, err := via.enter(actx)
		if err != nil {
			return err
		}
		defer release()
		m, err = fetchMount(actx, client, path)
		return err
	})
	if err != nil {
		if ctx.Err() != nil || retryable(err) {
			return lookupResult{}, err
		}
		klog.V(4).InfoS("KV version detection unavailable, using the path as written", "path", path, "err", err)
		return lookupResult{}, nil
	}
	if !covers(m, path) {
		// Vault named a mount that is not a prefix of the path (e.g. one
		// of a child namespace named in the path): nothing to rewrite.
		return lookupResult{}, nil
	}
	c.mounts.Add(mountKey{scope, m.path}, m)
	return lookupResult{mount: m, found: true}, nil
}

func lookupError(path string, err error) error {
	e := vaultError(http.MethodGet, path, err)
	e.Message = "finding the KV version of its mount at " + mountsAPI + ": " + e.Message
	return e
}

func fetchMount(ctx context.Context, client *vault.Client, path string) (mountInfo, error) {
	s, err := client.Logical().ReadWithContext(ctx, mountsAPI+path)
	if err != nil {
		return mountInfo{}, err
	}
	if s == nil || s.Data == nil {
		return mountInfo{}, errNoMount
	}
	mp, _ := s.Data["path"].(string)
	if mp == "" {
		return mountInfo{}, errNoMount
	}
	if !strings.HasSuffix(mp, "/") {
		mp += "/"
	}
	typ, _ := s.Data["type"].(string)
	version := ""
	if opts, ok := s.Data["options"].(map[string]any); ok {
		version, _ = opts["version"].(string)
	}
	return mountInfo{path: mp, kvV2: (typ == "kv" || typ == "generic") && version == "2"}, nil
}

type mountError string

func (e mountError) Error() string { return string(e) }

const errNoMount = mountError("no mount information")
