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
	"net/http"
	"os"
	"time"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
	"github.com/vaultazure/vault-azure-csi-provider/provider/vaultclient"
)

// Authenticator returns Vault tokens for a pod's identity (see auth.Manager).
type Authenticator interface {
	Token(ctx context.Context, client *vault.Client, req *auth.Request) (string, error)
	Forget(req *auth.Request)
}

// Config configures a Provider.
type Config struct {
	// DefaultVaultAddress is used when the SecretProviderClass has no vaultAddress.
	DefaultVaultAddress string
	// VaultTimeout bounds each Vault request.
	VaultTimeout time.Duration
	// ObjectConcurrency bounds parallel reads within one Mount.
	ObjectConcurrency int
	// VaultMaxConcurrency bounds the Vault reads in flight across all
	// Mounts (default 32).
	VaultMaxConcurrency int
	// VaultRetry is the retry policy of Vault reads (default auth.DefaultBackoff).
	VaultRetry *auth.Backoff
	// SecretCacheTTL keeps GET responses this long per (Vault token, path),
	// so rotation polls of pods sharing an identity read each path at most
	// once per TTL. 0 disables the cache; concurrent identical GETs are
	// coalesced either way.
	SecretCacheTTL time.Duration
	// SecretCacheMaxEntries bounds the secret cache (default 4096).
	SecretCacheMaxEntries int
	// OnSecretCache, if set, is told whether each cacheable read hit the cache.
	OnSecretCache func(hit bool)
	// MaxResponseBytes caps the total size of the files of one Mount.
	MaxResponseBytes int
	// OnVaultRequest, if set, is told of every HTTP request to Vault.
	OnVaultRequest func(kind string, status int)
	// VersionKey keys the object versions (see Provider.version). Providers
	// with the same key give the same versions for the same content, across
	// restarts and nodes. Empty: a random key of this process, so versions
	// change when the provider restarts.
	VersionKey []byte
}

// Provider serves Mounts. It is safe for concurrent use.
type Provider struct {
	cfg     Config
	auth    Authenticator
	clients *vaultclient.Pool
	reader  *secrets.Reader
	// cache holds recent GET responses (nil: disabled); flights coalesces
	// identical concurrent GETs; limit bounds Vault reads in flight.
	cache   *secretCache
	flights *flightGroup
	limit   *limiter
	// versionKey keys the HMAC that turns content into an object version
	// without revealing it.
	versionKey []byte
}

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
	if cfg.OnSecretCache == nil {
		cfg.OnSecretCache = func(bool) {}
	}
	key := cfg.VersionKey
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("creating the object-version key: %w", err)
		}
	}
	p := &Provider{cfg: cfg, auth: authn, clients: vaultclient.NewPool(cfg.VaultTimeout, cfg.OnVaultRequest), reader: newReader(cfg),
		flights: newFlightGroup(), limit: newLimiter(cfg.VaultMaxConcurrency, "the provider's concurrent Vault reads (--vault-max-concurrency)"), versionKey: key}
	if cfg.SecretCacheTTL > 0 {
		p.cache = newSecretCache(cfg.SecretCacheTTL, cfg.SecretCacheMaxEntries, time.Now)
	}
	return p, nil
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

// Mount handles one MountRequest's fields.
func (p *Provider) Mount(ctx context.Context, attributes, targetPath, permission string) (*Result, error) {
	start := time.Now()
	prm, err := params.Parse(attributes, targetPath, permission)
	if err != nil {
		return nil, err
	}
	addr := prm.VaultAddress
	if addr == "" {
		addr = p.cfg.DefaultVaultAddress
	}
	if addr == "" {
		return nil, &params.Error{Parameter: "vaultAddress", Problem: "is required: this provider has no default (--vault-addr); set it to your Vault URL"}
	}
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

// readAll logs in and reads every object. If Vault refuses a cached token
// (403), it forgets it, logs in once more and reads again.
func (p *Provider) readAll(ctx context.Context, base *vault.Client, areq *auth.Request, prm *params.Params) ([][]byte, error) {
	contents, err := p.readWithToken(ctx, base, areq, prm)
	var se *secrets.Error
	if err == nil || !errors.As(err, &se) || se.Status != http.StatusForbidden {
		return contents, err
	}
	klog.V(2).InfoS("Vault refused the token, logging in again", "pod", klog.KRef(prm.Pod.Namespace, prm.Pod.Name), "path", se.Path)
	p.auth.Forget(areq)
	return p.readWithToken(ctx, base, areq, prm)
}

func (p *Provider) readWithToken(ctx context.Context, base *vault.Client, areq *auth.Request, prm *params.Params) ([][]byte, error) {
	token, err := p.auth.Token(ctx, base, areq)
	if err != nil {
		return nil, err
	}
	c, err := base.Clone()
	if err != nil {
		return nil, fmt.Errorf("preparing Vault client: %w", err)
	}
	c.SetToken(token)
	c.SetNamespace(prm.VaultNamespace)
	scope := readScope(areq.VaultAddress, areq.Connection, prm.VaultNamespace, token)
	return p.fetchObjects(ctx, c, scope, prm.Objects)
}

func (p *Provider) result(prm *params.Params, contents [][]byte) (*Result, error) {
	res := &Result{Files: make([]File, 0, len(prm.Objects)), Versions: make([]Version, 0, len(prm.Objects))}
	total := 0
	for i, obj := range prm.Objects {
		total += len(contents[i])
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
	h := hmac.New(sha256.New, p.versionKey)
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SizeError is a Mount whose files exceed the size limit.
type SizeError struct {
	Limit  int
	Object string
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("the mounted files exceed %d bytes at object %q: the driver and Kubernetes Secrets cannot carry that much; mount fewer or smaller secrets", e.Limit, e.Object)
}

// AuthRequest is the login request a Mount of prm makes against addr (the
// troubleshooting command uses it to log in exactly as a Mount does).
func AuthRequest(prm *params.Params, addr string) *auth.Request {
	tokens := make(map[string]auth.ServiceAccountToken, len(prm.ServiceAccountTokens))
	for aud, t := range prm.ServiceAccountTokens {
		exp, _ := time.Parse(time.RFC3339, t.ExpirationTimestamp)
		tokens[aud] = auth.ServiceAccountToken{Token: t.Token, Expires: exp}
	}
	conn, _ := json.Marshal(prm.TLS)
	return &auth.Request{
		VaultAddress:   addr,
		Connection:     string(conn),
		VaultNamespace: prm.VaultNamespace,
		Method:         prm.AuthMethod,
		MountPath:      prm.AuthMountPath,
		Role:           prm.RoleName,
		Audience:       prm.Audience,
		Azure: auth.Azure{Identity: prm.Azure.Identity, ClientID: prm.Azure.ClientID, TenantID: prm.Azure.TenantID,
			Resource: prm.Azure.Resource, VMMetadata: prm.Azure.VMMetadata},
		Pod:    auth.Pod{Namespace: prm.Pod.Namespace, Name: prm.Pod.Name, UID: prm.Pod.UID, ServiceAccount: prm.Pod.ServiceAccount},
		Tokens: tokens,
	}
}

func newReader(cfg Config) *secrets.Reader {
	if cfg.VaultRetry == nil {
		return secrets.NewReader()
	}
	return secrets.NewReader(secrets.WithRetry(*cfg.VaultRetry))
}
