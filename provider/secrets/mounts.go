package secrets

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

const mountInfoTTL = 5 * time.Minute

// mountsAPI is where Vault tells which mount serves a path, and its KV version.
const mountsAPI = "sys/internal/ui/mounts/"

// mountCache remembers, per Vault address and namespace, the KV version of
// the mounts it has looked up via sys/internal/ui/mounts.
type mountCache struct {
	mu     sync.Mutex
	mounts map[string][]mountInfo // address|namespace → mounts
}

type mountInfo struct {
	path    string // "secret/"
	kvV2    bool
	fetched time.Time
}

func newMountCache() *mountCache {
	return &mountCache{mounts: map[string][]mountInfo{}}
}

// apiPath returns the API path for a read of path: for a KV v2 mount,
// "secret/foo" becomes "secret/data/foo"; "secret/data/foo" stays. It fails
// only when Vault could not answer the mount lookup (sealed, unreachable)
// even after retries: guessing then could read the wrong path.
func (c *mountCache) apiPath(ctx context.Context, client *vault.Client, path string, retry auth.Backoff) (string, error) {
	m, ok, err := c.lookup(ctx, client, path, retry)
	if err != nil {
		return "", err
	}
	if !ok || !m.kvV2 {
		return path, nil
	}
	rest := strings.TrimPrefix(path, m.path)
	if strings.HasPrefix(rest, "data/") || rest == "data" {
		return path, nil
	}
	return m.path + "data/" + rest, nil
}

func (c *mountCache) lookup(ctx context.Context, client *vault.Client, path string, retry auth.Backoff) (mountInfo, bool, error) {
	key := client.Address() + "|" + client.Namespace()
	c.mu.Lock()
	for _, m := range c.mounts[key] {
		if strings.HasPrefix(path+"/", m.path) && time.Since(m.fetched) < mountInfoTTL {
			c.mu.Unlock()
			return m, true, nil
		}
	}
	c.mu.Unlock()
	var m mountInfo
	retryable := func(err error) bool { return Retryable(ctx, http.MethodGet, err) }
	err := retry.Do(ctx, retryable, func(actx context.Context) error {
		var err error
		m, err = fetchMount(actx, client, path)
		return err
	})
	if err != nil {
		if ctx.Err() != nil || retryable(err) {
			e := vaultError(http.MethodGet, path, err)
			e.Message = "finding the KV version of its mount at " + mountsAPI + ": " + e.Message
			return mountInfo{}, false, e
		}
		// Old Vault or no permission: use the path as written.
		klog.V(4).InfoS("KV version detection unavailable, using the path as written", "path", path, "err", err)
		return mountInfo{}, false, nil
	}
	c.mu.Lock()
	list := c.mounts[key][:0:0]
	for _, old := range c.mounts[key] {
		if old.path != m.path {
			list = append(list, old)
		}
	}
	c.mounts[key] = append(list, m)
	c.mu.Unlock()
	return m, true, nil
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
	return mountInfo{path: mp, kvV2: (typ == "kv" || typ == "generic") && version == "2", fetched: time.Now()}, nil
}

type mountError string

func (e mountError) Error() string { return string(e) }

const errNoMount = mountError("no mount information")
