package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"
	"k8s.io/klog/v2"
)

// Manager logs in with the configured methods and caches Vault tokens per
// identity. It is safe for concurrent use.
type Manager struct {
	methods map[string]Method
	cache   bool
	onCache func(hit bool)
	now     func() time.Time
	group   singleflight.Group
	retry   Backoff // logins

	mu     sync.Mutex
	tokens map[string]*cachedToken
}

// sharedLoginTimeout bounds a login that several mounts wait for.
const sharedLoginTimeout = 60 * time.Second

type cachedToken struct {
	token     string
	renewable bool
	ttl       time.Duration // 0: never expires
	expires   time.Time
}

// Options tune a Manager.
type Options struct {
	// DisableCache logs in on every call (for comparison benchmarks).
	DisableCache bool
	// OnCacheLookup, if set, is told whether each Token call found a fresh cached token.
	OnCacheLookup func(hit bool)
	// LoginRetry retries logins that got no answer or 429/502/503/504;
	// nil: DefaultBackoff.
	LoginRetry *Backoff
}

// NewManager returns a Manager that uses methods, keyed by method name.
func NewManager(methods map[string]Method, opts Options) *Manager {
	onCache := opts.OnCacheLookup
	if onCache == nil {
		onCache = func(bool) {}
	}
	m := &Manager{methods: methods, cache: !opts.DisableCache, onCache: onCache, now: time.Now, tokens: map[string]*cachedToken{}}
	m.retry = DefaultBackoff
	if opts.LoginRetry != nil {
		m.retry = *opts.LoginRetry
	}
	return m
}

// Token returns a Vault token for req, logging in if no fresh token is cached.
// client is a Vault client for req's address and namespace; its token is not used.
func (m *Manager) Token(ctx context.Context, client *vault.Client, req *Request) (string, error) {
	method, ok := m.methods[req.Method]
	if !ok {
		return "", &Error{Kind: KindConfig, Err: fmt.Errorf("auth method %q is not enabled in this provider", req.Method)}
	}
	principal, err := method.Principal(req)
	if err != nil {
		return "", err
	}
	key := cacheKey(req, principal)
	if !m.cache {
		t, err := m.login(ctx, client, method, req, principal)
		if err != nil {
			return "", err
		}
		return t.token, nil
	}
	if tok, ok := m.fresh(key); ok {
		m.onCache(true)
		return tok, nil
	}
	m.onCache(false)
	ch := m.group.DoChan(key, func() (any, error) {
		// Callers share this login: one caller giving up must not fail the
		// others, so the login runs on its own deadline.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedLoginTimeout)
		defer cancel()
		return m.refresh(lctx, client, method, req, key, principal)
	})
	select {
	case <-ctx.Done():
		return "", &Error{Kind: KindUnavailable, Err: fmt.Errorf("waiting for the %s login at auth/%s as role %q (%s): %w",
			req.Method, req.MountPath, req.Role, principal, ctx.Err())}
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	}
}

// refresh returns a cached, renewed or new token for key.
func (m *Manager) refresh(ctx context.Context, client *vault.Client, method Method, req *Request, key, principal string) (string, error) {
	if tok, ok := m.fresh(key); ok {
		return tok, nil
	}
	if tok, ok := m.renew(ctx, client, key, req); ok {
		return tok, nil
	}
	t, err := m.login(ctx, client, method, req, principal)
	if err != nil {
		return "", err
	}
	m.store(key, t)
	return t.token, nil
}

// Forget drops the cached token for req, after Vault refused it (403).
func (m *Manager) Forget(req *Request) {
	method, ok := m.methods[req.Method]
	if !ok {
		return
	}
	principal, err := method.Principal(req)
	if err != nil {
		return
	}
	m.mu.Lock()
	delete(m.tokens, cacheKey(req, principal))
	m.mu.Unlock()
}

// cacheKey covers everything that changes who logs in, or where.
func cacheKey(req *Request, principal string) string {
	k, _ := json.Marshal([]any{req.VaultAddress, req.Connection, req.VaultNamespace, req.Method, req.MountPath,
		req.Role, req.Audience, req.Azure, principal})
	return string(k)
}

// fresh returns a cached token with more than a fifth of its TTL left.
func (m *Manager) fresh(key string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[key]
	if !ok {
		return "", false
	}
	if t.ttl == 0 || m.now().Add(t.ttl/5).Before(t.expires) {
		return t.token, true
	}
	return "", false
}

func (m *Manager) store(key string, t *cachedToken) {
	m.mu.Lock()
	m.tokens[key] = t
	m.mu.Unlock()
}

// renew extends a cached renewable token that is still valid. It reports false
// when a fresh login is needed instead.
func (m *Manager) renew(ctx context.Context, client *vault.Client, key string, req *Request) (string, bool) {
	m.mu.Lock()
	t, ok := m.tokens[key]
	m.mu.Unlock()
	if !ok || !t.renewable || !m.now().Before(t.expires) {
		return "", false
	}
	c, err := client.Clone()
	if err != nil {
		return "", false
	}
	c.SetToken(t.token)
	c.SetNamespace(req.VaultNamespace)
	secret, err := c.Auth().Token().RenewSelfWithContext(ctx, int(t.ttl.Seconds()))
	if err != nil || secret == nil || secret.Auth == nil {
		klog.V(2).InfoS("token renewal failed, logging in again", "role", req.Role, "mount", req.MountPath, "err", err)
		return "", false
	}
	ttl := time.Duration(secret.Auth.LeaseDuration) * time.Second
	if ttl < t.ttl/2 {
		// Near its max TTL: renewing buys little, log in again.
		return "", false
	}
	m.store(key, &cachedToken{token: t.token, renewable: secret.Auth.Renewable, ttl: ttl, expires: m.now().Add(ttl)})
	klog.V(4).InfoS("renewed Vault token", "role", req.Role, "mount", req.MountPath, "ttl", ttl)
	return t.token, true
}

// login performs POST auth/<mount>/login.
func (m *Manager) login(ctx context.Context, client *vault.Client, method Method, req *Request, principal string) (*cachedToken, error) {
	data, err := method.LoginData(ctx, req)
	if err != nil {
		return nil, err
	}
	c, err := client.Clone()
	if err != nil {
		return nil, &Error{Kind: KindConfig, Err: fmt.Errorf("preparing Vault client: %w", err)}
	}
	c.ClearToken()
	c.SetNamespace(req.VaultNamespace)
	// Azure login failures come back as HTTP 500: never retry a login blindly,
	// only when Vault gave no answer or asked to come back later.
	c.SetMaxRetries(0)
	path := "auth/" + req.MountPath + "/login"
	var secret *vault.Secret
	err = m.retry.Do(ctx, func(err error) bool { return VaultRetryable(ctx, err) }, func(actx context.Context) error {
		var werr error
		secret, werr = c.Logical().WriteWithContext(actx, path, data)
		return werr
	})
	if err != nil {
		return nil, withRetryNote(explainLoginError(method, req, principal, path, data, err), err)
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, &Error{Kind: KindDenied, Err: fmt.Errorf("Vault answered the login at %s without a token", path)}
	}
	ttl := time.Duration(secret.Auth.LeaseDuration) * time.Second
	klog.V(2).InfoS("logged in to Vault", "mount", req.MountPath, "role", req.Role, "principal", principal,
		"namespace", req.Pod.Namespace, "pod", req.Pod.Name, "ttl", ttl, "renewable", secret.Auth.Renewable)
	return &cachedToken{token: secret.Auth.ClientToken, renewable: secret.Auth.Renewable, ttl: ttl, expires: m.now().Add(ttl)}, nil
}

func explainLoginError(method Method, req *Request, principal, path string, data map[string]any, err error) error {
	var re *vault.ResponseError
	if !errors.As(err, &re) {
		return &Error{Kind: KindUnavailable, Err: fmt.Errorf("logging in to Vault at %s%s: %w%s", req.VaultAddress, "/v1/"+path, err, TLSHint(err.Error()))}
	}
	msg := fmt.Sprintf("Vault refused the %s login for role %q at %s (HTTP %d: %s) as %s",
		req.Method, req.Role, path, re.StatusCode, vaultMessage(re), principal)
	if jwt, ok := data["jwt"].(string); ok {
		msg += "; the token sent has " + DescribeJWT(jwt)
	}
	msg += loginHint(method, req, re)
	kind := KindDenied
	switch re.StatusCode {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout:
		// Sealed, rate limited, or a proxy in front of Vault could not reach it.
		kind = KindUnavailable
	}
	return &Error{Kind: kind, Err: errors.New(msg)}
}

func vaultMessage(re *vault.ResponseError) string {
	// An empty or non-JSON body gives Errors [""]: say so instead of "[]".
	msgs := slices.DeleteFunc(slices.Clone(re.Errors), func(m string) bool { return strings.TrimSpace(m) == "" })
	if len(msgs) == 0 {
		return "no message"
	}
	return oneLine(fmt.Sprint(msgs))
}

func loginHint(method Method, req *Request, re *vault.ResponseError) string {
	switch {
	case re.StatusCode == http.StatusServiceUnavailable:
		return " — Vault is sealed or unavailable"
	case re.StatusCode == http.StatusBadGateway || re.StatusCode == http.StatusGatewayTimeout:
		return " — a proxy or load balancer in front of Vault could not reach it"
	}
	msg := strings.Join(re.Errors, "; ")
	if strings.Contains(msg, "invalid role name") || strings.Contains(msg, "could not be found") {
		return fmt.Sprintf(" — there is no role %q at auth/%s: check roleName and vaultAuthMountPath (vault list auth/%s/role)", req.Role, req.MountPath, req.MountPath)
	}
	if e, ok := method.(RefusalExplainer); ok {
		return " — " + e.ExplainRefusal(req, msg)
	}
	return fmt.Sprintf(" — check that role %q at auth/%s exists and binds this service account and audience", req.Role, req.MountPath)
}

// TLSHint points at the TLS parameters when a connection to Vault failed on TLS.
func TLSHint(msg string) string {
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: failed to verify"):
		return " (Vault's certificate was not accepted: set vaultCACertPath, vaultCADirectory or vaultCAPem to its CA, and vaultTLSServerName to a name in the certificate)"
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "remote error"):
		return " (the TLS handshake failed: if Vault requires a client certificate, set vaultTLSClientCertPath and vaultTLSClientKeyPath)"
	}
	return ""
}
