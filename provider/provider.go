// Package provider implements the Mount of the Secrets Store CSI Driver
// provider: parse the request, log in to Vault as the pod's identity, read
// every object, and return all files with their versions — or fail whole.
package provider

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"os"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/allow"
	"github.com/vaultazure/vault-azure-csi-provider/auth/background"
	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/auth/share"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/pods"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
	"github.com/vaultazure/vault-azure-csi-provider/provider/statefile"
	"github.com/vaultazure/vault-azure-csi-provider/provider/vaultclient"
)

// Authenticator returns Vault tokens for a pod's identity (see auth.Manager).
type Authenticator interface {
	Token(ctx context.Context, client *vault.Client, req *auth.Request) (*auth.Lease, error)
	// Refused reports a 403 at path ("GET secret/data/db") on the lease's
	// token and whether asking for a token again may help.
	Refused(ctx context.Context, lease *auth.Lease, path string) bool
	// Methods are the auth methods it logs in with; each parses its own
	// SecretProviderClass parameters.
	Methods() auth.Methods
}

// Config configures a Provider.
type Config struct {
	// DefaultVaultAddress is used when the SecretProviderClass has no vaultAddress.
	DefaultVaultAddress string
	// VaultDefaults are the namespace and TLS settings of the provider's
	// own Vault: classes that use DefaultVaultAddress get those they do
	// not set themselves.
	VaultDefaults params.Defaults
	// VaultTimeout bounds each Vault request.
	VaultTimeout time.Duration
	// ObjectConcurrency bounds parallel reads within one Mount.
	ObjectConcurrency int
	// Shares bounds the Vault calls in flight across all Mounts, per Vault
	// address and per namespace (see auth/share; nil: share.New with
	// VaultMaxConcurrency). Share it with the auth.Manager: logins count.
	Shares *share.Shares
	// VaultMaxConcurrency is the total of the default Shares (default 32).
	VaultMaxConcurrency int
	// VaultRetry is the retry policy of Vault reads (default retry.Default).
	VaultRetry *retry.Backoff
	// SecretCacheTTL keeps GET responses this long per (Vault token, path),
	// so rotation polls of pods sharing an identity read each path at most
	// once per TTL. 0 disables the cache; concurrent identical GETs are
	// coalesced either way.
	SecretCacheTTL time.Duration
	// SecretCacheMaxEntries bounds the secret cache (default 4096), and
	// SecretCacheMaxBytes its bytes (default DefaultSecretCacheBytes).
	SecretCacheMaxEntries int
	SecretCacheMaxBytes   int
	// MaxResponseBytes caps the size of a Mount's answer: the files'
	// contents plus FileOverhead per file (default 4 MiB, the driver's
	// default gRPC receive limit).
	MaxResponseBytes int
	// Observer, if set, is told of every HTTP request to Vault, whether
	// each cacheable read hit the secret cache (observe.CacheSecret) and,
	// unless Dynamic sets its own, of the events of kept dynamic secrets.
	Observer observe.Observer
	// MountCacheSize bounds the KV mounts remembered for KV v2 detection
	// (default secrets.DefaultMountCacheSize).
	MountCacheSize int
	// Dynamic configures the dynamic secrets kept per pod (see
	// provider/dynamic); DisableDynamicReuse asks Vault at every Mount.
	Dynamic             dynamic.Config
	DisableDynamicReuse bool
	// Pods, if set, tells which pods still run on the node (the kubelet's
	// pod-resources API); Start runs it, and the dynamic secrets of pods it
	// finds gone are revoked. Nil: pod liveness is unknown.
	Pods *pods.Tracker
	// AllowedAddresses and AllowedTLSDirs restrict the Vault addresses and
	// TLS files classes may name (empty: any; see auth/allow).
	AllowedAddresses allow.Addresses
	AllowedTLSDirs   allow.Directories
	// StateFile, if set, keeps the dynamic secrets across restarts: Start
	// restores them, and changes are written every second and at Flush.
	StateFile *statefile.File
	// MaxVaultClients bounds the pool of Vault clients, one per (address,
	// TLS settings) (default vaultclient.DefaultMaxClients).
	MaxVaultClients int
	// RequireVaultTLS refuses Vault addresses with plain http://; without it
	// each such address is logged once with a warning.
	RequireVaultTLS bool
	// VersionKey keys the object versions (see Provider.version). Providers
	// with the same key give the same versions for the same content, across
	// restarts and nodes. Empty: a random key of this process, so versions
	// change when the provider restarts.
	VersionKey []byte
	// SyncController: the provider serves the Secrets Store Sync
	// Controller, not the driver (see sync.go); Pods is not used.
	SyncController bool
	// SyncPollInterval is the controller's --rotation-poll-interval
	// (default DefaultSyncPollInterval): kept dynamic secrets must outlive
	// it, and are revoked after SyncRevokeAfter of it without a Mount.
	SyncPollInterval time.Duration
}

// Provider serves Mounts. It is safe for concurrent use.
type Provider struct {
	cfg     Config
	obs     observe.Observer
	auth    Authenticator
	clients *vaultclient.Pool
	plain   *plaintextGuard
	reader  *secrets.Reader
	// cache holds recent GET responses (nil: disabled); flights coalesces
	// identical concurrent GETs; shares bounds Vault calls in flight.
	cache   *secretCache
	flights *flightGroup
	shares  *share.Shares
	// versionKey keys the HMAC that turns content into an object version
	// without revealing it.
	versionKey []byte
	// dynamic keeps each pod's dynamic secrets (nil: never kept).
	dynamic *dynamic.Store
	// parsed remembers the Params of recent MountRequests.
	parsed *params.Cache
	// hmacs are HMACs keyed by versionKey, reused across Mounts.
	hmacs sync.Pool
}

// Bounds of the cache of parsed MountRequests: about two per pod of a
// full node, whose attributes (the class's parameters and the pod's
// tokens) are a few KiB each.
const (
	parsedEntries = 1024
	parsedBytes   = 8 << 20
)

// New returns a Provider that logs in with authn.
func New(cfg Config, authn Authenticator) (*Provider, error) {
	if cfg.VaultTimeout == 0 {
		cfg.VaultTimeout = 30 * time.Second
	}
	if cfg.ObjectConcurrency <= 0 {
		cfg.ObjectConcurrency = 8
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 4 << 20
	}
	if cfg.VaultMaxConcurrency <= 0 {
		cfg.VaultMaxConcurrency = 32
	}
	if cfg.SecretCacheMaxEntries <= 0 {
		cfg.SecretCacheMaxEntries = 4096
	}
	if cfg.Dynamic.Observer == nil {
		cfg.Dynamic.Observer = cfg.Observer
	}
	if cfg.SyncController {
		if cfg.SyncPollInterval <= 0 {
			cfg.SyncPollInterval = DefaultSyncPollInterval
		}
		cfg.Pods = nil
		if cfg.Dynamic.Liveness == nil {
			now := cfg.Dynamic.Now
			if now == nil {
				now = time.Now
			}
			cfg.Dynamic.Liveness = syncLiveness{revokeAfter: SyncRevokeAfter(cfg.SyncPollInterval), now: now}
		}
		cfg.Dynamic.MinLife = cfg.SyncPollInterval
	}
	if cfg.Pods != nil && cfg.Dynamic.Liveness == nil {
		cfg.Dynamic.Liveness = cfg.Pods
	}
	key := cfg.VersionKey
	if len(key) == 0 {
		// Versions are public (anyone who can read the pod's
		// SecretProviderClassPodStatus sees them), so the key must be
		// secret: with a fixed one, a version would let its reader test
		// guesses of the content offline. Without a persisted key
		// (--version-key-file), a random one of this process: safe, at the
		// price of every version changing when the provider restarts.
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("creating the object-version key: %w", err)
		}
	}
	// Vault's answers are read up to the Mount's bound and 64 KiB of
	// envelope: more could never be mounted.
	pool := vaultclient.NewPool(cfg.VaultTimeout, cfg.Observer, vaultclient.WithMaxClients(cfg.MaxVaultClients),
		vaultclient.WithMaxBody(int64(cfg.MaxResponseBytes)+64<<10))
	p := &Provider{cfg: cfg, obs: observe.OrNop(cfg.Observer), auth: authn, clients: pool, plain: newPlaintextGuard(cfg.RequireVaultTLS), reader: newReader(cfg),
		parsed:  params.NewCache(authn.Methods(), parsedEntries, parsedBytes),
		flights: newFlightGroup(), shares: cfg.Shares, versionKey: key}
	p.hmacs.New = func() any { return hmac.New(sha256.New, p.versionKey) }
	if p.shares == nil {
		p.shares = share.New(share.Limits{Total: cfg.VaultMaxConcurrency})
	}
	if cfg.SecretCacheTTL > 0 {
		p.cache = newSecretCache(cfg.SecretCacheTTL, cfg.SecretCacheMaxEntries, cfg.SecretCacheMaxBytes, time.Now)
	}
	if !cfg.DisableDynamicReuse {
		p.dynamic = dynamic.New(cfg.Dynamic, dynamic.VaultLeases{})
	}
	return p, nil
}

// Start runs the provider's background work until ctx ends: listing the
// node's pods, renewing the leases of running pods' dynamic secrets (and
// the tokens that hold them), revoking those of pods that are gone.
// Nothing is revoked when ctx ends: pods outlive a provider restart.
func (p *Provider) Start(ctx context.Context) {
	go p.clients.Prepare(p.cfg.DefaultVaultAddress)
	if p.cfg.Pods != nil {
		go p.cfg.Pods.Run(ctx)
	}
	if p.dynamic == nil {
		return
	}
	p.restoreState()
	p.dynamic.UseBackground(background.New(ctx, background.Options{}))
	go p.dynamic.Run(ctx, p.dynamic.SweepInterval())
	if p.cfg.StateFile != nil {
		go p.runState(ctx)
	}
}

// DynamicLeases returns the number of leases kept for pods (for metrics).
func (p *Provider) DynamicLeases() int {
	if p.dynamic == nil {
		return 0
	}
	return p.dynamic.Leases()
}

// CacheSizes returns the number of entries of the provider's caches: Vault
// clients and cached secrets (for metrics and tests).
func (p *Provider) CacheSizes() map[string]int {
	sizes := map[string]int{"vault_client": p.clients.Len()}
	if p.cache != nil {
		sizes["secret"] = p.cache.len()
	}
	return sizes
}

// File is one file of a Mount result.
type File struct {
	Path     string
	Mode     os.FileMode
	Contents []byte
}

// Version is the version of one object: it changes exactly when the content does.
type Version struct {
	ID      string
	Version string
}

// Result is a successful Mount.
type Result struct {
	Files    []File
	Versions []Version
}

// Mount handles one MountRequest's fields. The target path is the driver's
// business (it writes the files there); the provider only returns them,
// and tells by it a request of the sync controller (see sync.go).
func (p *Provider) Mount(ctx context.Context, attributes, targetPath, permission string) (*Result, error) {
	start := time.Now()
	if err := p.checkCaller(targetPath); err != nil {
		return nil, err
	}
	prm, err := p.parsed.Parse(attributes, permission)
	if err != nil {
		return nil, err
	}
	if prm, err = p.syncWorkload(prm); err != nil {
		return nil, err
	}
	ctx = vaultclient.WithNamespace(ctx, prm.Pod.Namespace)
	addr := prm.VaultAddress
	if addr == "" {
		addr = p.cfg.DefaultVaultAddress
	}
	if addr == "" {
		return nil, &params.Error{Parameter: "vaultAddress", Problem: "is required: this provider has no default (--vault-addr); set it to your Vault URL"}
	}
	if err := p.plain.check(addr); err != nil {
		return nil, err
	}
	if err := p.admit(addr, prm); err != nil {
		return nil, err
	}
	prm = p.WithDefaults(addr, prm)
	base, err := p.clients.Get(addr, prm.TLS)
	if err != nil {
		return nil, err
	}
	areq := AuthRequest(prm, addr)
	contents, err := p.readAll(ctx, base, areq, prm)
	var res *Result
	if err == nil {
		res, err = p.result(prm, contents)
	}
	if err != nil {
		klog.ErrorS(err, "mount failed", "pod", klog.KRef(prm.Pod.Namespace, prm.Pod.Name),
			"authMethod", prm.AuthMethod, "role", prm.RoleName, "duration", time.Since(start))
		return nil, err
	}
	klog.V(2).InfoS("mount prepared", "pod", klog.KRef(prm.Pod.Namespace, prm.Pod.Name), "objects", len(res.Files),
		"authMethod", prm.AuthMethod, "role", prm.RoleName, "duration", time.Since(start))
	return res, nil
}

// WithDefaults returns prm with the provider-wide Vault namespace and TLS
// settings where the class sets none, if addr is the provider's own Vault
// (the admin's settings describe that Vault only; a class naming another
// gets none, nor the provider's client certificate).
func (p *Provider) WithDefaults(addr string, prm *params.Params) *params.Params {
	if addr != p.cfg.DefaultVaultAddress {
		return prm
	}
	return prm.WithDefaults(p.cfg.VaultDefaults)
}

// readAll logs in and reads every object. If Vault refuses (403) a token
// that came from the cache and may be dead, it asks for a token once more
// (the manager drops the refused token and logs in, or hands out a newer
// one) and reads again: at most once per Mount, and never when the token
// was obtained within this Mount, whose 403 is the policy's answer.
func (p *Provider) readAll(ctx context.Context, base *vault.Client, areq *auth.Request, prm *params.Params) ([][]byte, error) {
	lease, err := p.auth.Token(ctx, base, areq)
	if err != nil {
		return nil, err
	}
	contents, err := p.readWithToken(ctx, base, areq, lease, prm)
	refused, ok := forbidden(err)
	if !ok || !p.auth.Refused(ctx, lease, refused) {
		return contents, err
	}
	klog.V(2).InfoS("Vault refused a cached token, asking for a new one", "pod", klog.KRef(prm.Pod.Namespace, prm.Pod.Name), "request", refused)
	if lease, err = p.auth.Token(ctx, base, areq); err != nil {
		return nil, err
	}
	contents, err = p.readWithToken(ctx, base, areq, lease, prm)
	if refused, ok := forbidden(err); ok && lease.Fresh {
		p.auth.Refused(ctx, lease, refused) // remembered: the policy refuses it
	}
	return contents, err
}

// forbidden returns the request ("GET secret/data/db") that Vault refused
// with 403 in err.
func forbidden(err error) (string, bool) {
	var se *secrets.Error
	if err == nil || !errors.As(err, &se) || se.Status != http.StatusForbidden {
		return "", false
	}
	return se.Method + " " + se.Path, true
}

func (p *Provider) readWithToken(ctx context.Context, base *vault.Client, areq *auth.Request, lease *auth.Lease, prm *params.Params) ([][]byte, error) {
	mc := &mountClient{base: base, address: base.Address(), token: lease.Token, namespace: prm.VaultNamespace}
	scope := readScope(areq.VaultAddress, areq.Connection, prm.VaultNamespace, lease.Token)
	return p.fetchObjects(ctx, mc, scope, prm.Objects, holderOf(prm, areq, lease, dynamic.Owner{Client: base}))
}

// mountClient is a Mount's Vault client, with its token and namespace,
// made at the Mount's first Vault call: a Mount answered from the caches
// makes none.
type mountClient struct {
	base                      *vault.Client
	address, token, namespace string

	once sync.Once
	c    *vault.Client
	err  error
}

func (m *mountClient) get() (*vault.Client, error) {
	m.once.Do(func() {
		c, err := m.base.Clone()
		if err != nil {
			m.err = fmt.Errorf("preparing Vault client: %w", err)
			return
		}
		c.SetToken(m.token)
		c.SetNamespace(m.namespace)
		m.c = c
	})
	return m.c, m.err
}

func (p *Provider) result(prm *params.Params, contents [][]byte) (*Result, error) {
	res := &Result{Files: make([]File, 0, len(prm.Objects)), Versions: make([]Version, 0, len(prm.Objects))}
	total := 0
	for i, obj := range prm.Objects {
		total += len(contents[i]) + FileOverhead(obj.ObjectName)
		if total > p.cfg.MaxResponseBytes {
			return nil, &SizeError{Limit: p.cfg.MaxResponseBytes, Object: obj.ObjectName}
		}
		mode := prm.FilePermission
		if obj.FilePermission != 0 {
			mode = obj.FilePermission
		}
		res.Files = append(res.Files, File{Path: obj.ObjectName, Mode: mode, Contents: contents[i]})
		res.Versions = append(res.Versions, Version{ID: obj.ObjectName, Version: p.version(obj.ObjectName, contents[i])})
	}
	return res, nil
}

// version is a keyed hash of the object's name and content.
func (p *Provider) version(name string, content []byte) string {
	h := p.hmacs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(content)
	var sum [sha256.Size]byte
	var out [32]byte
	hex.Encode(out[:], h.Sum(sum[:0])[:16])
	p.hmacs.Put(h)
	return string(out[:])
}

// SizeError is a Mount whose files exceed the size limit.
type SizeError struct {
	Limit  int
	Object string
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("the mounted files exceed %d bytes at object %q (counting each file's contents, twice its name and %d bytes of framing, as the answer to the driver does): "+
		"the driver refuses answers larger than its --max-call-recv-msg-size (default 4 MiB) and a Kubernetes Secret holds at most 1 MiB; mount fewer or smaller secrets",
		e.Limit, e.Object, fileFraming)
}

// fileFraming bounds the protobuf bytes a file adds to the MountResponse
// besides its contents and name: the File and ObjectVersion messages' tags,
// lengths, mode and the 32-character version.
const fileFraming = 80

// FileOverhead is what a file named name adds to the MountResponse besides
// its contents: its name as the path and as the version's id, and framing.
// Counting it, files within MaxResponseBytes give a response within it.
func FileOverhead(name string) int { return 2*len(name) + fileFraming }

// AuthRequest is the login request a Mount of prm makes against addr (the
// troubleshooting command uses it to log in exactly as a Mount does).
func AuthRequest(prm *params.Params, addr string) *auth.Request {
	conn, _ := json.Marshal(prm.TLS)
	return &auth.Request{
		VaultAddress:   addr,
		Connection:     string(conn),
		VaultNamespace: prm.VaultNamespace,
		Method:         prm.AuthMethod,
		MountPath:      prm.AuthMountPath,
		Role:           prm.RoleName,
		Audience:       prm.Audience,
		Params:         prm.MethodParams,
		Pod:            prm.Pod,
		Tokens:         prm.ServiceAccountTokens,
	}
}

func newReader(cfg Config) *secrets.Reader {
	opts := []secrets.Option{secrets.WithMountCacheSize(cfg.MountCacheSize)}
	if cfg.VaultRetry != nil {
		opts = append(opts, secrets.WithRetry(*cfg.VaultRetry))
	}
	return secrets.NewReader(opts...)
}
