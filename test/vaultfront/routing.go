package vaultfront

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/policyutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// handleMounted routes a request to the backend of the mount that serves its
// path: token check, existence check (create vs update), ACL, the backend's
// HandleRequest, then token minting for logins and lease registration for
// secrets.
func (s *Server) handleMounted(w http.ResponseWriter, rc *reqCtx) {
	op, data, ok := parseInput(w, rc)
	if !ok {
		return
	}
	p := rc.path
	if op == logical.ListOperation && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	m, rel := s.findMount(rc.ns, p)
	if m == nil {
		if _, err := s.authenticate(rc); err != nil {
			respondError(w, http.StatusForbidden, err)
			return
		}
		respondError(w, http.StatusNotFound, errNoHandler(p))
		return
	}
	req := s.newBackendRequest(rc, m, op, rel, data)
	ctx := rc.r.Context()
	unauth := m.isUnauthenticated(rel)
	if unauth && m.auth {
		s.noteLogin(data)
	}
	var tok *token
	if !unauth {
		var status int
		var err error
		if tok, status, err = s.authorizeBackendRequest(ctx, rc, m, p, req); err != nil {
			respondError(w, status, err)
			return
		}
	}
	resp, err := m.backend.HandleRequest(ctx, req)
	if respondBackendError(w, req, resp, err) {
		return
	}
	if resp != nil && resp.Auth != nil && unauth && m.auth {
		if status, err := s.completeLogin(rc, m, p, resp); err != nil {
			respondError(w, status, err)
			return
		}
	}
	if resp != nil && resp.Secret != nil && tok != nil {
		if err := s.registerLease(rc, m, p, req, resp, tok); err != nil {
			respondError(w, http.StatusInternalServerError, err)
			return
		}
	}
	if resp != nil {
		resp.MountType = m.typ
	}
	respondLogical(w, rc.id, resp)
}

// newBackendRequest builds the logical.Request a backend sees, as Vault's
// router would: path relative to the mount, per-mount storage, connection.
func (s *Server) newBackendRequest(rc *reqCtx, m *mount, op logical.Operation, rel string,
	data map[string]interface{}) *logical.Request {
	return &logical.Request{
		ID:            rc.id,
		Operation:     op,
		Path:          rel,
		Data:          data,
		Storage:       m.storage,
		Connection:    &logical.Connection{RemoteAddr: rc.remote, RemotePort: rc.port, ConnState: rc.r.TLS},
		MountPoint:    m.path,
		MountType:     m.typ,
		MountAccessor: m.accessor,
		HTTPRequest:   rc.r,
	}
}

// authorizeBackendRequest checks the token, turns an update into a create
// when the backend says the target does not exist, then checks the ACL on
// the namespace-relative path p. It fills in the request's token fields.
func (s *Server) authorizeBackendRequest(ctx context.Context, rc *reqCtx, m *mount, p string,
	req *logical.Request) (*token, int, error) {
	t, err := s.authenticate(rc)
	if err != nil {
		return nil, http.StatusForbidden, err
	}
	if err := resolveExistence(ctx, m, req); err != nil {
		status, newErr := logical.RespondErrorCommon(req, nil, err)
		return nil, status, newErr
	}
	if err := s.checkACL(rc, t, req.Operation, p, false); err != nil {
		return nil, http.StatusForbidden, err
	}
	req.ClientToken = t.id
	req.ClientTokenAccessor = t.accessor
	req.EntityID = t.entityID
	req.DisplayName = t.displayName
	req.ClientTokenRemainingUses = t.numUses
	return t, 0, nil
}

// resolveExistence asks the backend whether the target of a write exists and
// sets CreateOperation or UpdateOperation accordingly, as Vault core does.
func resolveExistence(ctx context.Context, m *mount, req *logical.Request) error {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return nil
	}
	checkFound, exists, err := m.backend.HandleExistenceCheck(ctx, req)
	switch {
	case errors.Is(err, logical.ErrUnsupportedPath):
		checkFound = false
	case err != nil:
		return fmt.Errorf("existence check on %s%s: %w", m.path, req.Path, err)
	}
	req.Operation = logical.UpdateOperation
	if checkFound && !exists {
		req.Operation = logical.CreateOperation
	}
	return nil
}

// completeLogin mints a token from a backend's login Auth, like Vault's
// handleLoginRequest: default policy, TTL from the backend or the mount,
// entity for the alias, and the Vault "auth" block in the response.
func (s *Server) completeLogin(rc *reqCtx, m *mount, p string, resp *logical.Response) (int, error) {
	auth := resp.Auth
	policies := policyutil.SanitizePolicies(auth.Policies, !auth.NoDefaultPolicy)
	if slices.Contains(policies, "root") {
		return http.StatusBadRequest, errors.New("auth methods cannot create root tokens")
	}
	ttl, warnings, err := framework.CalculateTTL(m.sys, 0, auth.TTL, auth.Period, auth.MaxTTL,
		auth.ExplicitMaxTTL, time.Time{})
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("calculate token ttl: %w", err)
	}
	entityID := ""
	if auth.Alias != nil && auth.Alias.Name != "" {
		if entityID, err = s.entities.idFor(m.accessor, auth.Alias.Name); err != nil {
			return http.StatusInternalServerError, err
		}
	}
	saved := *auth
	t, err := s.mintToken(&token{
		ns: rc.nsPath, policies: policies, meta: auth.Metadata, path: p, entityID: entityID,
		displayName: loginDisplayName(m, auth.DisplayName), mount: m, auth: &saved,
		renewable: auth.Renewable, period: auth.Period, maxTTL: auth.MaxTTL,
		explicitMaxTTL: auth.ExplicitMaxTTL, numUses: auth.NumUses, orphan: true,
	}, ttl)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	resp.Auth = t.authBlock(ttl)
	resp.Warnings = append(resp.Warnings, warnings...)
	return 0, nil
}

// loginDisplayName prefixes the backend's display name with the mount path,
// as Vault does ("jwt-alice").
func loginDisplayName(m *mount, name string) string {
	prefix := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(m.path, "auth/"), "/"), "/", "-")
	return strings.TrimRight(prefix+"-"+name, "-")
}

// registerLease gives a secret response a lease, as Vault's expiration
// manager does: default and max TTL from the mount, a lease id of
// "<request path>/<uuid>", revoked with its token. KV mounts (unless
// leased_passthrough) only report the TTL, without a lease.
func (s *Server) registerLease(rc *reqCtx, m *mount, p string, req *logical.Request, resp *logical.Response,
	t *token) error {
	sec := resp.Secret
	if sec.TTL <= 0 {
		sec.TTL = m.defaultTTL
	}
	if sec.TTL > m.maxTTL {
		sec.TTL = m.maxTTL
	}
	if m.typ == "kv" && m.options["leased_passthrough"] != "true" {
		sec.Renewable = false
		return nil
	}
	id, err := uuid.GenerateUUID()
	if err != nil {
		return fmt.Errorf("vaultfront: generate lease id: %w", err)
	}
	now := time.Now()
	saved := *sec
	saved.LeaseID = path.Join(p, id)
	saved.IssueTime = now
	s.leases.add(&lease{
		id: saved.LeaseID, ns: rc.nsPath, mount: m, path: p, secret: &saved, data: resp.Data,
		tokenID: t.id, issued: now, expires: now.Add(sec.TTL),
	})
	sec.LeaseID = saved.LeaseID
	return nil
}
