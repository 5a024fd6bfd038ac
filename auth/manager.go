package auth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/guard"
	"github.com/vaultazure/vault-azure-csi-provider/auth/keys"
	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/auth/share"
	"github.com/vaultazure/vault-azure-csi-provider/auth/shared"
)

// Manager logs in with the configured methods and caches Vault tokens per
// identity (a bounded LRU). A cached token is used only within the lifetime
// Vault granted at login: with a fifth of it left, the next caller logs in
// again, presenting a fresh Azure or service-account token, so Vault
// re-verifies the identity at least once per token TTL (renewal instead is
// opt-in: Options.RenewTokens). It is safe for concurrent use.
type Manager struct {
	methods Methods
	cache   bool
	renew   bool
	obs     observe.Observer
	now     func() time.Time
	group   singleflight.Group
	retry   retry.Backoff // logins
	tokens  *tokenCache
	shares  *share.Shares // nil: unbounded
	// reloginAfter: the least time between two refusal-made logins.
	reloginAfter time.Duration
}

// sharedLoginTimeout bounds a login that several mounts wait for.
const sharedLoginTimeout = 60 * time.Second

// DefaultMaxTokens is the default bound of the token cache (Options.MaxTokens).
const DefaultMaxTokens = 4096

// untimedTokenLifetime is how long a token that Vault granted without a TTL
// is used before logging in again: the identity is re-verified all the same.
const untimedTokenLifetime = time.Hour

// Options tune a Manager.
type Options struct {
	// DisableCache logs in on every call (for comparison benchmarks).
	DisableCache bool
	// RenewTokens renews a renewable cached token (auth/token/renew-self)
	// instead of logging in again when a fifth of its TTL is left. Renewal
	// does not re-verify the identity: Vault's azure method only checks that
	// the role still exists, so a token renewed up to its max TTL outlives a
	// removed role binding, federated credential or managed identity.
	RenewTokens bool
	// MaxTokens bounds the token cache (default DefaultMaxTokens); the least
	// recently used token goes first (it is not revoked: it expires).
	MaxTokens int
	// Observer, if set, is told whether each Token call found a fresh
	// cached token (cache observe.CacheVaultToken).
	Observer observe.Observer
	// LoginRetry retries logins that got no answer or 429/502/503/504;
	// nil: retry.Default.
	LoginRetry *retry.Backoff
	// Shares bounds the logins in flight with the Mounts' other Vault
	// calls, per Vault address and per namespace (nil: unbounded).
	Shares *share.Shares
	// ReloginAfter is the least time between two logins of an identity
	// that 403s at new paths ask for (default DefaultReloginAfter).
	ReloginAfter time.Duration
}

// NewManager returns a Manager that uses methods, keyed by method name.
func NewManager(methods Methods, opts Options) *Manager {
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = DefaultMaxTokens
	}
	m := &Manager{methods: methods, cache: !opts.DisableCache, renew: opts.RenewTokens, obs: observe.OrNop(opts.Observer), now: time.Now,
		shares: opts.Shares, reloginAfter: cmp.Or(opts.ReloginAfter, DefaultReloginAfter)}
	m.tokens = newTokenCache(opts.MaxTokens)
	m.retry = retry.Default
	if opts.LoginRetry != nil {
		m.retry = *opts.LoginRetry
	}
	return m
}

// Methods returns the methods the manager logs in with.
func (m *Manager) Methods() Methods { return m.methods }

// Lease is a Vault token handed to one caller (one Mount).
type Lease struct {
	Token string
	// Fresh: Vault issued (or renewed) the token during this call, for this
	// caller or for callers it joined; it was not merely taken from the
	// cache. A 403 on a fresh token is a policy refusal, never a dead token.
	Fresh bool
	// Expires is when the token expires (Vault then revokes the leases it
	// created); zero: unknown.
	Expires time.Time
	// TTL is the lifetime Vault granted at login (or the last renewal), and
	// Renewable whether Vault lets the token extend it: whoever keeps the
	// leases the token creates alive must keep the token alive too.
	TTL       time.Duration
	Renewable bool
	key       string // token cache key; empty without a cache
}

// leaseOf hands t out; fresh: Vault issued or renewed it in this call.
func leaseOf(t *cachedToken, fresh bool, key string) Lease {
	return Lease{Token: t.token, Fresh: fresh, Expires: t.expires, TTL: t.ttl, Renewable: t.renewable, key: key}
}

// Token returns a Vault token for req, logging in if no fresh token is cached.
// client is a Vault client for req's address and namespace; its token is not used.
//
// Every call, cached or not, first checks req's credential locally
// (Method.Check): a Mount without a valid service-account token of its pod
// fails the same way whether or not a token is cached.
func (m *Manager) Token(ctx context.Context, client *vault.Client, req *Request) (*Lease, error) {
	method, ok := m.methods[req.Method]
	if !ok {
		return nil, &Error{Kind: KindConfig, Err: fmt.Errorf("auth method %q is not enabled in this provider", req.Method)}
	}
	principal, err := method.Principal(req)
	if err != nil {
		return nil, err
	}
	if err := method.Check(req); err != nil {
		return nil, err
	}
	if !m.cache {
		t, err := m.login(ctx, client, method, req, principal)
		if err != nil {
			return nil, err
		}
		l := leaseOf(t, true, "")
		return &l, nil
	}
	key := CacheKey(req, principal)
	if t, ok := m.tokens.fresh(key, m.now()); ok {
		m.obs.CacheLookup(observe.CacheVaultToken, true)
		l := leaseOf(&t, false, key)
		return &l, nil
	}
	ch := m.group.DoChan(key, func() (any, error) {
		// Callers share this login: one caller giving up must not fail the
		// others; it keeps the first caller's deadline, and at most
		// sharedLoginTimeout.
		sctx, cancelShared := shared.Context(ctx)
		defer cancelShared()
		lctx, cancel := context.WithTimeout(sctx, sharedLoginTimeout)
		defer cancel()
		return guard.Call("a login", func() (any, error) { return m.refresh(lctx, client, method, req, key, principal) })
	})
	// Told once this caller waits for the login (its own or one it joined).
	m.obs.CacheLookup(observe.CacheVaultToken, false)
	select {
	case <-ctx.Done():
		return nil, &Error{Kind: KindUnavailable, Err: fmt.Errorf("waiting for the %s login at auth/%s as role %q (%s): %w",
			req.Method, req.MountPath, req.Role, principal, ctx.Err())}
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		l := r.Val.(Lease)
		return &l, nil
	}
}

// refresh returns a cached, renewed or new token for key.
func (m *Manager) refresh(ctx context.Context, client *vault.Client, method Method, req *Request, key, principal string) (Lease, error) {
	if t, ok := m.tokens.fresh(key, m.now()); ok {
		return leaseOf(&t, false, key), nil
	}
	if m.renew {
		if t, ok := m.renewToken(ctx, client, key, req); ok {
			return leaseOf(t, true, key), nil
		}
	}
	prev, _ := m.tokens.peek(key)
	t, err := m.login(ctx, client, method, req, principal)
	if err != nil {
		return Lease{}, err
	}
	if prev.stale {
		t.forced = append(recentForced(prev.forced, t.obtained.Add(-m.reloginAfter)), t.obtained)
	}
	m.tokens.store(key, t)
	return leaseOf(t, true, key), nil
}

// DefaultReloginAfter is the least time between two logins of one
// identity that refusals ask for (Options.ReloginAfter).
const DefaultReloginAfter = time.Minute

// Refused tells the manager that Vault answered 403 to a request at path
// (e.g. "GET secret/data/db") made with the lease's token, and reports
// whether asking for a token again may help.
//
// A 403 on a token obtained within this call, or at a path Vault refused
// this token before, is the policy's answer: remembered with the token, no
// new login. Otherwise the token may predate a change of the role (a policy
// added) or be dead (Vault lost it): it is marked stale, and the caller asks
// for a token once more, which makes one login for the identity, shared by
// every caller; its fresh token's refusals are then the policy's. At most
// three such logins per identity per ReloginAfter, however many paths a
// class is refused; past that, refusals are answered as the policy's
// without being remembered, so a token revoked in Vault is replaced at the
// first refusal once the window has passed. No token is ever revoked or
// dropped on a refusal: a stale one expires on its own, with the leases it
// created alive until then.
func (m *Manager) Refused(ctx context.Context, lease *Lease, path string) bool {
	if lease == nil || lease.key == "" {
		return false
	}
	if lease.Fresh {
		m.tokens.noteRefused(lease.key, lease.Token, path)
		return false
	}
	return m.tokens.classify(lease.key, lease.Token, path, m.now(), m.reloginAfter) != refusalKnown
}

// Len returns the number of cached tokens (for metrics).
func (m *Manager) Len() int { return m.tokens.len() }

// notInKey lists the Request fields that do not choose the token: every
// other field, present or added later, is part of the cache key, so a new
// field is never silently shared between identities.
var notInKey = map[string]string{
	"Pod":    "the principal names the identity the pod logs in as; other pods of it share its token",
	"Tokens": "the pod's credentials, not its identity: a newer token of the same identity uses the same login",
}

// PodIdentityKey is CacheKey with the pod's service account in place of the
// method's principal, for callers that key what a login obtained (the
// provider's kept dynamic secrets) without the method at hand.
func PodIdentityKey(req *Request) string {
	return CacheKey(req, "serviceaccount:"+req.Pod.Namespace+"/"+req.Pod.ServiceAccount)
}

// CacheKey is the token cache key of req as principal: every field of req
// but those in notInKey, and the principal. It runs at every Mount, so it
// names the fields instead of reflecting over them; TestCacheKeyCoversEveryField
// fails when a field is added to Request and not here or to notInKey.
func CacheKey(req *Request, principal string) string {
	return keys.Join("principal", principal, req.VaultAddress, req.VaultNamespace, req.Connection,
		req.Method, req.MountPath, req.Role, req.Audience, paramsKey(req.Params))
}

// KeyedParams are method parameters that name their part of the token cache
// key themselves (every field of them); others are encoded as JSON.
type KeyedParams interface {
	CacheKey() string
}

// paramsKey is the cache-key part of a method's parameters: their type and
// their fields, so parameters of two methods never share a part.
func paramsKey(p any) string {
	switch v := p.(type) {
	case nil:
		return ""
	case KeyedParams:
		return keys.Join(fmt.Sprintf("%T", v), v.CacheKey())
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprintf("%T%#v", p, p) // never one key for all
	}
	return keys.Join(fmt.Sprintf("%T", p), string(b))
}

// renewToken extends a cached renewable token that is still valid
// (Options.RenewTokens). It reports false when a fresh login is needed instead.
func (m *Manager) renewToken(ctx context.Context, client *vault.Client, key string, req *Request) (*cachedToken, bool) {
	t, ok := m.tokens.peek(key)
	if !ok || t.stale || !t.renewable || !m.now().Before(t.expires) {
		return nil, false
	}
	c, err := client.Clone()
	if err != nil {
		return nil, false
	}
	c.SetToken(t.token)
	c.SetNamespace(req.VaultNamespace)
	release, err := m.shares.Acquire(ctx, req.VaultAddress, req.Pod.Namespace)
	if err != nil {
		return nil, false
	}
	secret, err := c.Auth().Token().RenewSelfWithContext(ctx, int(t.ttl.Seconds()))
	release()
	if err != nil || secret == nil || secret.Auth == nil {
		klog.V(2).InfoS("token renewal failed, logging in again", "role", req.Role, "mount", req.MountPath, "err", err)
		return nil, false
	}
	ttl := time.Duration(secret.Auth.LeaseDuration) * time.Second
	if ttl < t.ttl/2 {
		// Near its max TTL: renewing buys little, log in again.
		return nil, false
	}
	now := m.now()
	m.tokens.renewed(key, t.token, secret.Auth.Renewable, ttl, now)
	klog.V(4).InfoS("renewed Vault token", "role", req.Role, "mount", req.MountPath, "ttl", ttl)
	t.renewable, t.ttl, t.expires = secret.Auth.Renewable, ttl, now.Add(ttl)
	return &t, true
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
	err = m.retry.Do(ctx, func(err error) bool { return retry.VaultRetryable(ctx, err) }, func(actx context.Context) error {
		release, err := m.shares.Acquire(actx, req.VaultAddress, req.Pod.Namespace)
		if err != nil {
			return err
		}
		defer release()
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
	if ttl <= 0 {
		ttl = untimedTokenLifetime
	}
	now := m.now()
	return &cachedToken{token: secret.Auth.ClientToken, renewable: secret.Auth.Renewable, ttl: ttl, expires: now.Add(ttl), obtained: now}, nil
}

func explainLoginError(method Method, req *Request, principal, path string, data map[string]any, err error) error {
	var re *vault.ResponseError
	if !errors.As(err, &re) {
		return &Error{Kind: KindUnavailable, Err: fmt.Errorf("logging in to Vault at %s%s: %w%s", retry.Redact(req.VaultAddress), "/v1/"+path, err, retry.TLSHint(err.Error()))}
	}
	msg := fmt.Sprintf("Vault refused the %s login for role %q at %s (HTTP %d: %s) as %s",
		req.Method, req.Role, path, re.StatusCode, vaultMessage(re), principal)
	if jwt, ok := data["jwt"].(string); ok {
		msg += "; the token sent has " + DescribeJWT(jwt)
	}
	msg += loginHint(method, req, re, data)
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
	return retry.OneLine(fmt.Sprint(msgs))
}

func loginHint(method Method, req *Request, re *vault.ResponseError, sent map[string]any) string {
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
		return " — " + e.ExplainRefusal(req, msg, sent)
	}
	return fmt.Sprintf(" — check that role %q at auth/%s exists and binds this service account and audience", req.Role, req.MountPath)
}

// withRetryNote appends how often cause's call was tried to the message of
// err, an *Error that explains cause, unless it says so already.
func withRetryNote(err, cause error) error {
	note := retry.Note(cause)
	var ae *Error
	if note == "" || !errors.As(err, &ae) || strings.Contains(ae.Error(), note) {
		return err
	}
	ae.Err = fmt.Errorf("%w%s", ae.Err, note)
	return err
}
