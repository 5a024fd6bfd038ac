package vaultfront

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/parseutil"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/policyutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// tokenCall is one auth/token/ request after the token and ACL checks.
type tokenCall struct {
	rc   *reqCtx
	tok  *token
	op   logical.Operation
	data map[string]interface{}
}

// tokenEndpoint is an auth/token/<name> endpoint and the operations it takes.
type tokenEndpoint struct {
	ops []logical.Operation
	fn  func(s *Server, ctx context.Context, c *tokenCall) (*logical.Response, error)
}

// Operations the token endpoints accept.
var (
	opsRead   = []logical.Operation{logical.ReadOperation, logical.UpdateOperation}
	opsUpdate = []logical.Operation{logical.UpdateOperation}
)

// tokenEndpoints are the token store endpoints the front implements.
var tokenEndpoints = map[string]tokenEndpoint{
	"lookup-self":     {opsRead, (*Server).tokenLookupSelf},
	"renew-self":      {opsUpdate, (*Server).tokenRenewSelf},
	"revoke-self":     {opsUpdate, (*Server).tokenRevokeSelf},
	"create":          {opsUpdate, (*Server).tokenCreate},
	"create-orphan":   {opsUpdate, (*Server).tokenCreate},
	"lookup":          {opsRead, (*Server).tokenLookup},
	"lookup-accessor": {opsUpdate, (*Server).tokenLookup},
	"renew":           {opsUpdate, (*Server).tokenRenew},
	"revoke":          {opsUpdate, (*Server).tokenRevoke},
	"revoke-accessor": {opsUpdate, (*Server).tokenRevoke},
}

// handleTokenAPI serves auth/token/*.
func (s *Server) handleTokenAPI(w http.ResponseWriter, rc *reqCtx) {
	op, data, ok := parseInput(w, rc)
	if !ok {
		return
	}
	t, err := s.authenticate(rc)
	if err != nil {
		respondError(w, http.StatusForbidden, err)
		return
	}
	if err := s.checkACL(rc, t, op, rc.path, false); err != nil {
		respondError(w, http.StatusForbidden, err)
		return
	}
	ep, found := tokenEndpoints[strings.TrimPrefix(rc.path, "auth/token/")]
	req := &logical.Request{Operation: op}
	if !found {
		respondBackendError(w, req, nil, logical.ErrUnsupportedPath)
		return
	}
	if !slices.Contains(ep.ops, op) {
		respondBackendError(w, req, nil, logical.ErrUnsupportedOperation)
		return
	}
	resp, err := ep.fn(s, rc.r.Context(), &tokenCall{rc: rc, tok: t, op: op, data: data})
	if respondBackendError(w, req, resp, err) {
		return
	}
	if resp != nil {
		resp.MountType = "token"
	}
	respondLogical(w, rc.id, resp)
}

// tokenLookupSelf answers auth/token/lookup-self.
func (s *Server) tokenLookupSelf(_ context.Context, c *tokenCall) (*logical.Response, error) {
	return &logical.Response{Data: c.tok.lookupData(time.Now())}, nil
}

// tokenRevokeSelf answers auth/token/revoke-self: the token and its leases go.
func (s *Server) tokenRevokeSelf(_ context.Context, c *tokenCall) (*logical.Response, error) {
	s.revokeToken(c.tok.id)
	return nil, nil
}

// tokenRenewSelf answers auth/token/renew-self {increment}.
func (s *Server) tokenRenewSelf(ctx context.Context, c *tokenCall) (*logical.Response, error) {
	return s.renewTokenWithIncrement(ctx, c, c.tok)
}

// targetToken finds the token named by "token" (or "accessor") in the
// caller's namespace.
func (s *Server) targetToken(c *tokenCall) (*token, error) {
	id, _ := c.data["token"].(string)
	if acc, ok := c.data["accessor"].(string); ok && id == "" {
		id, _ = s.tokens.idForAccessor(acc)
	}
	if id == "" {
		return nil, fmt.Errorf("%w: token or accessor required", logical.ErrInvalidRequest)
	}
	if id == s.rootToken {
		return s.rootTokenEntry(c.rc.nsPath), nil
	}
	t, ok, _ := s.tokens.get(id, time.Now())
	if !ok || t.ns != c.rc.nsPath {
		return nil, fmt.Errorf("%w: bad token", logical.ErrInvalidRequest)
	}
	return &t, nil
}

// tokenLookup answers auth/token/lookup {token} and lookup-accessor {accessor}.
func (s *Server) tokenLookup(_ context.Context, c *tokenCall) (*logical.Response, error) {
	t, err := s.targetToken(c)
	if err != nil {
		return logical.ErrorResponse(strings.TrimPrefix(err.Error(), logical.ErrInvalidRequest.Error()+": ")), err
	}
	data := t.lookupData(time.Now())
	if _, byAccessor := c.data["accessor"]; byAccessor {
		data["id"] = ""
	}
	return &logical.Response{Data: data}, nil
}

// tokenRevoke answers auth/token/revoke {token} and revoke-accessor {accessor}.
func (s *Server) tokenRevoke(_ context.Context, c *tokenCall) (*logical.Response, error) {
	t, err := s.targetToken(c)
	if err != nil {
		return nil, nil // revoking an unknown token succeeds, as in Vault
	}
	s.revokeToken(t.id)
	return nil, nil
}

// tokenRenew answers auth/token/renew {token, increment}.
func (s *Server) tokenRenew(ctx context.Context, c *tokenCall) (*logical.Response, error) {
	t, err := s.targetToken(c)
	if err != nil {
		return logical.ErrorResponse(strings.TrimPrefix(err.Error(), logical.ErrInvalidRequest.Error()+": ")), err
	}
	return s.renewTokenWithIncrement(ctx, c, t)
}

// renewTokenWithIncrement reads "increment" and renews t.
func (s *Server) renewTokenWithIncrement(ctx context.Context, c *tokenCall, t *token) (*logical.Response, error) {
	increment, err := parseutil.ParseDurationSecond(c.data["increment"])
	if err != nil {
		return logical.ErrorResponse("invalid increment: %s", err), logical.ErrInvalidRequest
	}
	return s.renewToken(ctx, c.rc, t, increment)
}

// renewToken extends a token's TTL as Vault's expiration manager does: the
// issuing auth backend is asked first (it may refuse or change the TTLs),
// then the new TTL is capped by the max TTL counted from the issue time.
func (s *Server) renewToken(ctx context.Context, rc *reqCtx, t *token, increment time.Duration) (*logical.Response, error) {
	if t.root || !t.renewable || t.expires.IsZero() {
		return logical.ErrorResponse("lease is not renewable"), logical.ErrInvalidRequest
	}
	sys := logical.SystemView(newSystemView(defaultLeaseTTL, defaultMaxLeaseTTL))
	ttl, period, maxTTL, explicitMax := t.creationTTL, t.period, t.maxTTL, t.explicitMaxTTL
	var warnings []string
	if t.mount != nil && t.auth != nil {
		a := *t.auth
		a.IssueTime, a.Increment, a.TTL = t.issued, increment, t.creationTTL
		req := s.newBackendRequest(rc, t.mount, logical.RenewOperation,
			strings.TrimPrefix(t.path, t.mount.path), nil)
		req.Auth, req.ClientToken, req.EntityID = &a, t.id, t.entityID
		resp, err := t.mount.backend.HandleRequest(ctx, req)
		if err != nil || resp.IsError() {
			return resp, err
		}
		if resp == nil || resp.Auth == nil {
			return logical.ErrorResponse("lease is not renewable"), logical.ErrInvalidRequest
		}
		ttl, period, maxTTL, explicitMax = resp.Auth.TTL, resp.Auth.Period, resp.Auth.MaxTTL, resp.Auth.ExplicitMaxTTL
		warnings = resp.Warnings
		sys = t.mount.sys
	}
	newTTL, w, err := framework.CalculateTTL(sys, increment, ttl, period, maxTTL, explicitMax, t.issued)
	if err != nil {
		return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
	}
	if !s.tokens.renewed(t.id, time.Now(), newTTL) {
		return nil, logical.ErrPermissionDenied
	}
	return &logical.Response{Auth: t.authBlock(newTTL), Warnings: append(warnings, w...)}, nil
}

// tokenCreate answers auth/token/create: a child token whose policies must
// be a subset of the caller's (root may grant anything).
func (s *Server) tokenCreate(_ context.Context, c *tokenCall) (*logical.Response, error) {
	in, err := parseTokenCreate(c.data)
	if err != nil {
		return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
	}
	policies := policyutil.SanitizePolicies(in.policies, false)
	if len(policies) == 0 {
		policies = slices.Clone(c.tok.policies)
	}
	if !c.tok.root {
		for _, p := range policies {
			if p != "default" && !slices.Contains(c.tok.policies, p) {
				return logical.ErrorResponse("child policies must be subset of parent"), logical.ErrInvalidRequest
			}
		}
	}
	isRoot := slices.Contains(policies, "root")
	if !isRoot {
		policies = policyutil.SanitizePolicies(policies, !in.noDefault)
	}
	ttl := time.Duration(0)
	if !isRoot || in.ttl > 0 || in.period > 0 || in.explicitMax > 0 {
		sys := newSystemView(defaultLeaseTTL, defaultMaxLeaseTTL)
		if ttl, _, err = framework.CalculateTTL(sys, 0, in.ttl, in.period, 0, in.explicitMax, time.Time{}); err != nil {
			return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
		}
	}
	t, err := s.mintToken(&token{
		ns: c.rc.nsPath, policies: policies, meta: in.meta, displayName: strings.TrimSuffix("token-"+in.displayName, "-"),
		path: c.rc.path, renewable: in.renewable && ttl > 0, period: in.period,
		explicitMaxTTL: in.explicitMax, numUses: in.numUses, orphan: strings.HasSuffix(c.rc.path, "-orphan"),
	}, ttl)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Auth: t.authBlock(ttl)}, nil
}

// tokenCreateInput is the body of auth/token/create.
type tokenCreateInput struct {
	policies    []string
	meta        map[string]string
	displayName string
	ttl         time.Duration
	explicitMax time.Duration
	period      time.Duration
	renewable   bool
	noDefault   bool
	numUses     int
}

// parseTokenCreate reads the parameters of auth/token/create.
func parseTokenCreate(data map[string]interface{}) (tokenCreateInput, error) {
	in := tokenCreateInput{renewable: true, policies: stringList(data["policies"])}
	in.displayName, _ = data["display_name"].(string)
	var err error
	for key, dst := range map[string]*time.Duration{"ttl": &in.ttl, "explicit_max_ttl": &in.explicitMax, "period": &in.period} {
		if *dst, err = parseutil.ParseDurationSecond(data[key]); err != nil {
			return in, fmt.Errorf("invalid %s: %w", key, err)
		}
	}
	if v, ok := data["renewable"]; ok {
		if in.renewable, err = parseutil.ParseBool(v); err != nil {
			return in, fmt.Errorf("invalid renewable: %w", err)
		}
	}
	if v, ok := data["no_default_policy"]; ok {
		if in.noDefault, err = parseutil.ParseBool(v); err != nil {
			return in, fmt.Errorf("invalid no_default_policy: %w", err)
		}
	}
	if v, ok := data["num_uses"]; ok {
		if in.numUses, err = parseutil.SafeParseInt(v); err != nil {
			return in, fmt.Errorf("invalid num_uses: %w", err)
		}
	}
	if m, ok := data["meta"].(map[string]interface{}); ok {
		in.meta = map[string]string{}
		for k, v := range m {
			in.meta[k] = fmt.Sprint(v)
		}
	}
	return in, nil
}
