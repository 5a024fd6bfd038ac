package vaultfront

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// sysCall is one sys/ request after authentication and ACL checks.
type sysCall struct {
	rc   *reqCtx
	tok  *token
	op   logical.Operation
	sub  string // path after "sys/"
	data map[string]interface{}
}

// sysHandler answers a sys/ request with a logical response or error.
type sysHandler func(ctx context.Context, c *sysCall) (*logical.Response, error)

// sysRoute binds a path prefix under sys/ to a handler.
type sysRoute struct {
	prefix string
	exact  bool
	sudo   bool
	fn     func(s *Server) sysHandler
}

// sysRoutes lists the sys/ endpoints, most specific first.
var sysRoutes = []sysRoute{
	{prefix: "mounts", exact: true, fn: func(s *Server) sysHandler { return s.sysMountsList }},
	{prefix: "mounts/", fn: func(s *Server) sysHandler { return s.sysMount }},
	{prefix: "auth", exact: true, fn: func(s *Server) sysHandler { return s.sysAuthList }},
	{prefix: "auth/", sudo: true, fn: func(s *Server) sysHandler { return s.sysMount }},
	{prefix: "policy", exact: true, fn: func(s *Server) sysHandler { return s.sysPolicyList }},
	{prefix: "policy/", fn: func(s *Server) sysHandler { return s.sysPolicy }},
	{prefix: "policies/acl", exact: true, fn: func(s *Server) sysHandler { return s.sysPolicyList }},
	{prefix: "policies/acl/", fn: func(s *Server) sysHandler { return s.sysPolicy }},
	{prefix: "leases/lookup", exact: true, fn: func(s *Server) sysHandler { return s.sysLeaseLookup }},
	{prefix: "leases/revoke-prefix/", sudo: true, fn: func(s *Server) sysHandler { return s.sysLeaseRevokePrefix }},
	{prefix: "leases/revoke", fn: func(s *Server) sysHandler { return s.sysLeaseRevoke }},
	{prefix: "revoke", fn: func(s *Server) sysHandler { return s.sysLeaseRevoke }},
	{prefix: "leases/renew", fn: func(s *Server) sysHandler { return s.sysLeaseRenew }},
	{prefix: "renew", fn: func(s *Server) sysHandler { return s.sysLeaseRenew }},
	{prefix: "namespaces", exact: true, fn: func(s *Server) sysHandler { return s.sysNamespaceList }},
	{prefix: "namespaces/", fn: func(s *Server) sysHandler { return s.sysNamespace }},
	{prefix: "capabilities-self", exact: true, fn: func(s *Server) sysHandler { return s.sysCapabilitiesSelf }},
	{prefix: "internal/ui/mounts", exact: true, fn: func(s *Server) sysHandler { return s.sysUIMountsList }},
	{prefix: "seal", exact: true, sudo: true, fn: func(s *Server) sysHandler { return s.sysSeal }},
}

// handleSys serves sys/ paths: health, seal status and unseal without a
// token; internal/ui/mounts/<path> with its own access check; the rest
// after the token and ACL checks.
func (s *Server) handleSys(w http.ResponseWriter, rc *reqCtx) {
	sub := strings.TrimPrefix(strings.TrimPrefix(rc.path, "sys"), "/")
	switch sub {
	case "health":
		s.sysHealth(w, rc)
		return
	case "seal-status":
		respondJSON(w, http.StatusOK, s.sealStatus())
		return
	}
	op, data, ok := parseInput(w, rc)
	if !ok {
		return
	}
	t, err := s.authenticate(rc)
	if err != nil {
		respondError(w, http.StatusForbidden, err)
		return
	}
	c := &sysCall{rc: rc, tok: t, op: op, sub: sub, data: data}
	fn, sudo := s.sysHandlerFor(sub)
	if strings.HasPrefix(sub, "internal/ui/mounts/") {
		fn = s.sysUIMount
	}
	// internal/ui/mounts does its own check: any access under a mount will do.
	if !strings.HasPrefix(sub, "internal/ui/mounts") {
		err = s.checkACL(rc, t, op, rc.path, sudo)
	}
	if err != nil {
		respondError(w, http.StatusForbidden, err)
		return
	}
	if fn == nil {
		respondError(w, http.StatusNotFound, errNoHandler(rc.path))
		return
	}
	resp, err := fn(rc.r.Context(), c)
	if respondBackendError(w, &logical.Request{Operation: op}, resp, err) {
		return
	}
	if resp != nil {
		resp.MountType = "system"
	}
	if resp != nil && (sub == "mounts" || sub == "auth") && op == logical.ReadOperation {
		httpResp := logical.LogicalResponseToHTTPResponse(resp)
		httpResp.RequestID = rc.id
		respondJSON(w, http.StatusOK, logical.HTTPSysInjector{Response: httpResp})
		return
	}
	respondLogical(w, rc.id, resp)
}

// sysHandlerFor finds the handler of a sys/ sub-path.
func (s *Server) sysHandlerFor(sub string) (sysHandler, bool) {
	for _, r := range sysRoutes {
		if (r.exact && sub == r.prefix) || (!r.exact && strings.HasPrefix(sub, r.prefix)) {
			return r.fn(s), r.sudo
		}
	}
	return nil, false
}

// sysHealth answers sys/health like Vault, honouring the *code parameters.
func (s *Server) sysHealth(w http.ResponseWriter, rc *reqCtx) {
	sealed := s.sealed.Load()
	status := http.StatusOK
	q := rc.r.URL.Query()
	if v := q.Get("activecode"); v != "" && !sealed {
		status = parseCode(v, status)
	}
	if sealed {
		status = parseCode(q.Get("sealedcode"), http.StatusServiceUnavailable)
	}
	body := map[string]interface{}{
		"initialized": true, "sealed": sealed, "standby": false, "performance_standby": false,
		"replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
		"server_time_utc": time.Now().Unix(), "version": Version, "enterprise": false,
		"cluster_name": "vaultfront", "cluster_id": s.clusterID, "echo_duration_ms": 0,
		"clock_skew_ms": 0,
	}
	if rc.r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	respondJSON(w, status, body)
}

// parseCode reads a status code query parameter, or returns def.
func parseCode(v string, def int) int {
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return n
	}
	return def
}

// sealStatus is the body of sys/seal-status.
func (s *Server) sealStatus() map[string]interface{} {
	return map[string]interface{}{
		"type": "shamir", "initialized": true, "sealed": s.sealed.Load(), "t": 1, "n": 1, "progress": 0,
		"nonce": "", "version": Version, "build_date": "", "migration": false, "recovery_seal": false,
		"storage_type": "inmem", "cluster_name": "vaultfront", "cluster_id": s.clusterID,
	}
}

// sysSeal seals the server (PUT sys/seal with a sudo token).
func (s *Server) sysSeal(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.UpdateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	s.SetSealed(true)
	return nil, nil
}

// sysCapabilitiesSelf answers sys/capabilities-self {paths:[...]}.
func (s *Server) sysCapabilitiesSelf(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.UpdateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	paths := stringList(c.data["paths"])
	if p, ok := c.data["path"].(string); ok && p != "" {
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return logical.ErrorResponse("paths must be supplied"), logical.ErrInvalidRequest
	}
	a := s.aclFor(c.rc.ns, c.tok.policies)
	data := map[string]interface{}{}
	var all []string
	for _, p := range paths {
		caps := []string{"root"}
		if !a.root {
			caps = capabilityList(a.capabilities(strings.TrimPrefix(p, "/")))
		}
		data[p] = caps
		all = caps
	}
	if len(paths) == 1 {
		data["capabilities"] = all
	}
	return &logical.Response{Data: data}, nil
}

// stringList reads a list parameter given as a JSON array or a comma string.
func stringList(v interface{}) []string {
	var out []string
	switch t := v.(type) {
	case string:
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []string:
		out = append(out, t...)
	case []interface{}:
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
