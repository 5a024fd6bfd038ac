package vaultfront

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/go-secure-stdlib/parseutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// sysMountsList answers GET sys/mounts: the namespace's secrets engines.
func (s *Server) sysMountsList(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.ReadOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	data := map[string]interface{}{
		"sys/": map[string]interface{}{
			"type": "system", "description": "system endpoints used for control, policy and debugging",
			"accessor": "system_vaultfront", "local": false, "seal_wrap": true, "options": nil,
			"config": map[string]interface{}{"default_lease_ttl": 0, "max_lease_ttl": 0},
		},
	}
	for _, m := range s.mountsOf(c.rc.ns, false) {
		data[m.path] = m.info()
	}
	return &logical.Response{Data: data}, nil
}

// sysAuthList answers GET sys/auth: the namespace's auth methods.
func (s *Server) sysAuthList(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.ReadOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	data := map[string]interface{}{
		"token/": map[string]interface{}{
			"type": "token", "description": "token based credentials", "accessor": "auth_token_vaultfront",
			"local": false, "seal_wrap": false, "options": nil,
			"config": map[string]interface{}{"default_lease_ttl": 0, "max_lease_ttl": 0},
		},
	}
	for _, m := range s.mountsOf(c.rc.ns, true) {
		data[strings.TrimPrefix(m.path, "auth/")] = m.info()
	}
	return &logical.Response{Data: data}, nil
}

// sysMount answers sys/mounts/<path> and sys/auth/<path>: POST enables,
// GET reads, DELETE disables.
func (s *Server) sysMount(_ context.Context, c *sysCall) (*logical.Response, error) {
	auth := strings.HasPrefix(c.sub, "auth/")
	p := strings.Trim(strings.TrimPrefix(strings.TrimPrefix(c.sub, "auth/"), "mounts/"), "/")
	if p == "" {
		return logical.ErrorResponse("path cannot be empty"), logical.ErrInvalidRequest
	}
	key := p + "/"
	if auth {
		key = "auth/" + key
	}
	switch c.op {
	case logical.UpdateOperation, logical.CreateOperation:
		cfg, typ, err := parseEnableInput(c.data)
		if err != nil {
			return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
		}
		if err := s.enable(c.rc.nsPath, auth, p, typ, cfg); err != nil {
			return logical.ErrorResponse(strings.TrimPrefix(err.Error(), "vaultfront: ")), logical.ErrInvalidRequest
		}
		return nil, nil
	case logical.ReadOperation:
		m, rel := s.findMount(c.rc.ns, key)
		if m == nil || rel != "" {
			return logical.ErrorResponse("No mount at %s", key), logical.ErrInvalidRequest
		}
		return &logical.Response{Data: m.info()}, nil
	case logical.DeleteOperation:
		return nil, s.disable(c.rc.ns, key)
	default:
		return nil, logical.ErrUnsupportedOperation
	}
}

// parseEnableInput reads {"type","description","options","config"} of an
// enable request.
func parseEnableInput(data map[string]interface{}) (mountConfig, string, error) {
	var cfg mountConfig
	typ, _ := data["type"].(string)
	if typ == "" {
		return cfg, "", fmt.Errorf("backend type must be specified as a string")
	}
	cfg.description, _ = data["description"].(string)
	if opts, ok := data["options"].(map[string]interface{}); ok {
		cfg.options = map[string]string{}
		for k, v := range opts {
			cfg.options[k] = fmt.Sprint(v)
		}
	}
	conf, _ := data["config"].(map[string]interface{})
	var err error
	if v, ok := conf["default_lease_ttl"]; ok {
		if cfg.defaultTTL, err = parseutil.ParseDurationSecond(v); err != nil {
			return cfg, "", fmt.Errorf("invalid default_lease_ttl: %w", err)
		}
	}
	if v, ok := conf["max_lease_ttl"]; ok {
		if cfg.maxTTL, err = parseutil.ParseDurationSecond(v); err != nil {
			return cfg, "", fmt.Errorf("invalid max_lease_ttl: %w", err)
		}
	}
	return cfg, typ, nil
}

// sysUIMount answers sys/internal/ui/mounts/<path> like Vault: the mount
// serving <path> if the token may access something under it, else 403.
// Clients (the vault CLI's kv helper, this project) use it to detect KV v2.
func (s *Server) sysUIMount(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.ReadOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	p := strings.TrimPrefix(strings.TrimPrefix(c.sub, "internal/ui/mounts/"), "/")
	if p == "" {
		return logical.ErrorResponse("path not set"), logical.ErrInvalidRequest
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	errResp := logical.ErrorResponse(fmt.Sprintf(
		"preflight capability check returned 403, please ensure client's policies grant access to path %q", p))
	m, _ := s.findMount(c.rc.ns, p)
	if m == nil || !s.aclFor(c.rc.ns, c.tok.policies).hasMountAccess(m.path) {
		return errResp, logical.ErrPermissionDenied
	}
	data := m.info()
	data["path"] = strings.TrimPrefix(m.path, "auth/")
	return &logical.Response{Data: data}, nil
}

// sysUIMountsList answers sys/internal/ui/mounts: the mounts the token can
// access, split into "secret" and "auth".
func (s *Server) sysUIMountsList(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.ReadOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	a := s.aclFor(c.rc.ns, c.tok.policies)
	secret, auth := map[string]interface{}{}, map[string]interface{}{}
	for _, m := range s.mountsOf(c.rc.ns, false) {
		if a.hasMountAccess(m.path) {
			secret[m.path] = m.info()
		}
	}
	for _, m := range s.mountsOf(c.rc.ns, true) {
		if a.hasMountAccess(m.path) {
			auth[strings.TrimPrefix(m.path, "auth/")] = m.info()
		}
	}
	return &logical.Response{Data: map[string]interface{}{"secret": secret, "auth": auth}}, nil
}

// sysNamespaceList answers LIST sys/namespaces: the direct children.
func (s *Server) sysNamespaceList(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.ListOperation && c.op != logical.ReadOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	keys := s.childNamespaces(c.rc.nsPath)
	if len(keys) == 0 {
		return nil, nil
	}
	return logical.ListResponse(keys), nil
}

// sysNamespace answers sys/namespaces/<name>: POST creates a child of the
// request's namespace, GET reads it, DELETE removes it and its children.
func (s *Server) sysNamespace(_ context.Context, c *sysCall) (*logical.Response, error) {
	name := normalizeNamespace(strings.TrimPrefix(c.sub, "namespaces/"))
	full := name
	if c.rc.nsPath != "" {
		full = c.rc.nsPath + "/" + name
	}
	switch c.op {
	case logical.UpdateOperation, logical.CreateOperation:
		n, err := s.ensureNamespace(full)
		if err != nil {
			return logical.ErrorResponse(strings.TrimPrefix(err.Error(), "vaultfront: ")), logical.ErrInvalidRequest
		}
		return &logical.Response{Data: namespaceInfo(n)}, nil
	case logical.ReadOperation:
		s.mu.RLock()
		n := s.namespaces[full]
		s.mu.RUnlock()
		if n == nil {
			return nil, nil
		}
		return &logical.Response{Data: namespaceInfo(n)}, nil
	case logical.DeleteOperation:
		s.deleteNamespace(full)
		return nil, nil
	default:
		return nil, logical.ErrUnsupportedOperation
	}
}
