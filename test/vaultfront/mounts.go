package vaultfront

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-uuid"
	azureauth "github.com/hashicorp/vault-plugin-auth-azure"
	jwtauth "github.com/hashicorp/vault-plugin-auth-jwt"
	kv "github.com/hashicorp/vault-plugin-secrets-kv"
	"github.com/hashicorp/vault/sdk/helper/base62"
	"github.com/hashicorp/vault/sdk/logical"
)

// mount is one enabled secrets engine or auth method. It is immutable once
// it is in a namespace's mount table.
type mount struct {
	ns          string
	path        string // routing prefix: "secret/" or "auth/jwt/"
	auth        bool
	typ         string // type shown in the mount table: "kv", "pki", "azure", "jwt"
	plugin      string // plugin that implements it
	description string
	options     map[string]string
	accessor    string
	uuid        string
	defaultTTL  time.Duration
	maxTTL      time.Duration
	storage     logical.Storage
	sys         systemView
	backend     logical.Backend
	special     *logical.Paths
}

// mountConfig is what an enable request may set beyond path and type.
type mountConfig struct {
	description string
	options     map[string]string
	defaultTTL  time.Duration
	maxTTL      time.Duration
}

// azureEnvVars override the azure auth plugin's stored config when set.
var azureEnvVars = []string{
	"AZURE_TENANT_ID", "AZURE_AD_RESOURCE", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_ENVIRONMENT",
}

// EnableSecrets mounts a secrets engine at path in namespace ns. typ is "kv"
// (options["version"] = "1" or "2"), "kv-v2", "pki" or "database".
func (s *Server) EnableSecrets(ns, path, typ string, options map[string]string) error {
	return s.enable(ns, false, path, typ, mountConfig{options: options})
}

// EnableAuth mounts an auth method at auth/<path> in namespace ns. typ is
// "azure", "jwt" or "oidc"; "kubernetes" mounts the jwt plugin as a stand-in
// for kubernetes auth (same {role, jwt} login, jwt-style configuration).
func (s *Server) EnableAuth(ns, path, typ string) error {
	return s.enable(ns, true, path, typ, mountConfig{})
}

// enable builds a backend and adds it to the namespace's mount table.
func (s *Server) enable(nsPath string, auth bool, path, typ string, cfg mountConfig) error {
	n, err := s.ensureNamespace(nsPath)
	if err != nil {
		return err
	}
	m, err := newMount(n.path, auth, path, typ, cfg)
	if err != nil {
		return err
	}
	if err := s.checkMountConflict(n, m.path); err != nil {
		return err
	}
	if err := s.buildBackend(m); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := mountConflict(n, m.path); err != nil {
		m.backend.Cleanup(context.Background())
		return err
	}
	n.mounts[m.path] = m
	return nil
}

// newMount validates the path and type of a new mount and prepares it.
func newMount(ns string, auth bool, path, typ string, cfg mountConfig) (*mount, error) {
	path = strings.Trim(strings.TrimSpace(path), "/")
	if path == "" || strings.Contains(path, "..") {
		return nil, fmt.Errorf("vaultfront: invalid mount path %q", path)
	}
	m := &mount{ns: ns, auth: auth, description: cfg.description, options: map[string]string{}}
	maps.Copy(m.options, cfg.options)
	if err := m.setType(typ); err != nil {
		return nil, err
	}
	m.path = path + "/"
	if auth {
		m.path = "auth/" + m.path
	} else if reservedMountPath(m.path) {
		return nil, fmt.Errorf("vaultfront: cannot mount under reserved path %q", m.path)
	}
	var err error
	if m.uuid, err = uuid.GenerateUUID(); err != nil {
		return nil, fmt.Errorf("vaultfront: generate mount uuid: %w", err)
	}
	suffix, err := base62.Random(8)
	if err != nil {
		return nil, fmt.Errorf("vaultfront: generate mount accessor: %w", err)
	}
	m.accessor = m.typ + "_" + strings.ToLower(suffix)
	m.defaultTTL, m.maxTTL = cfg.defaultTTL, cfg.maxTTL
	if m.defaultTTL <= 0 {
		m.defaultTTL = defaultLeaseTTL
	}
	if m.maxTTL <= 0 {
		m.maxTTL = defaultMaxLeaseTTL
	}
	m.storage = new(logical.InmemStorage)
	m.sys = newSystemView(m.defaultTTL, m.maxTTL)
	return m, nil
}

// setType resolves a mount type to the plugin that implements it.
func (m *mount) setType(typ string) error {
	switch {
	case !m.auth && typ == "kv":
		m.typ, m.plugin = "kv", "kv"
	case !m.auth && typ == "kv-v2":
		m.typ, m.plugin = "kv", "kv"
		m.options["version"] = "2"
	case !m.auth && typ == "pki":
		m.typ, m.plugin = "pki", "pki"
	case !m.auth && typ == "database":
		m.typ, m.plugin = "database", "database"
	case m.auth && typ == "azure":
		m.typ, m.plugin = "azure", "azure"
	case m.auth && (typ == "jwt" || typ == "oidc" || typ == "kubernetes"):
		m.typ, m.plugin = typ, "jwt"
	case m.auth && typ == KubernetesPluginType:
		m.typ, m.plugin = "kubernetes", "kubernetes"
	default:
		return fmt.Errorf("vaultfront: unknown %s type %q", map[bool]string{true: "auth", false: "secrets engine"}[m.auth], typ)
	}
	if v := m.options["version"]; m.typ == "kv" && v != "" && v != "1" && v != "2" {
		return fmt.Errorf("vaultfront: invalid kv version %q", v)
	}
	return nil
}

// reservedMountPath reports whether a secrets mount would shadow Vault's own
// paths.
func reservedMountPath(p string) bool {
	for _, r := range []string{"sys/", "auth/", "cubbyhole/", "identity/", "audit/"} {
		if strings.HasPrefix(p, r) || strings.HasPrefix(r, p) {
			return true
		}
	}
	return false
}

// checkMountConflict is mountConflict under the read lock.
func (s *Server) checkMountConflict(n *namespace, p string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return mountConflict(n, p)
}

// mountConflict refuses a mount path that overlaps an existing one, with
// Vault's message. Callers hold Server.mu.
func mountConflict(n *namespace, p string) error {
	for existing := range n.mounts {
		if strings.HasPrefix(p, existing) || strings.HasPrefix(existing, p) {
			return fmt.Errorf("path is already in use at %s", existing)
		}
	}
	return nil
}

// buildBackend runs the plugin's factory and Initialize as Vault does.
func (s *Server) buildBackend(m *mount) error {
	var factory logical.Factory
	switch m.plugin {
	case "kv":
		factory = kv.Factory
	case "pki":
		factory = pkiFactory
	case "database":
		factory = databaseFactory
	case "azure":
		for _, v := range azureEnvVars {
			if _, set := os.LookupEnv(v); set {
				return fmt.Errorf("vaultfront: %s is set in this process; the azure auth plugin would "+
					"use it instead of auth/%s config: unset it in processes hosting vaultfront", v, m.path)
			}
		}
		factory = azureauth.Factory
	case "jwt":
		factory = jwtauth.Factory
	case "kubernetes":
		factory = kubernetesFactory
	default:
		return fmt.Errorf("vaultfront: no factory for plugin %q", m.plugin)
	}
	config := maps.Clone(m.options)
	config["plugin_name"] = m.plugin
	config["plugin_type"] = map[bool]string{true: "auth", false: "secret"}[m.auth]
	ctx := context.Background()
	b, err := factory(ctx, &logical.BackendConfig{
		StorageView: m.storage,
		Logger:      s.logger.Named(strings.TrimSuffix(m.path, "/")),
		System:      m.sys,
		BackendUUID: m.uuid,
		Config:      config,
	})
	if err != nil {
		return fmt.Errorf("vaultfront: create %s backend at %s: %w", m.typ, m.path, err)
	}
	if b == nil {
		return fmt.Errorf("vaultfront: %s factory returned no backend", m.typ)
	}
	if err := b.Initialize(ctx, &logical.InitializationRequest{Storage: m.storage}); err != nil {
		return fmt.Errorf("vaultfront: initialize %s backend at %s: %w", m.typ, m.path, err)
	}
	m.backend = b
	m.special = b.SpecialPaths()
	return nil
}

// disable removes a mount and revokes its leases.
func (s *Server) disable(n *namespace, p string) error {
	s.mu.Lock()
	m := n.mounts[p]
	delete(n.mounts, p)
	s.mu.Unlock()
	if m == nil {
		return nil
	}
	ctx := context.Background()
	for _, l := range s.leases.removeMount(m) {
		s.revokeLeaseBackend(ctx, l)
	}
	m.backend.Cleanup(ctx)
	return nil
}

// findMount returns the mount routing path p (longest prefix wins) and the
// path relative to it.
func (s *Server) findMount(n *namespace, p string) (*mount, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best *mount
	for prefix, m := range n.mounts {
		if (strings.HasPrefix(p, prefix) || p+"/" == prefix) && (best == nil || len(prefix) > len(best.path)) {
			best = m
		}
	}
	if best == nil {
		return nil, ""
	}
	if len(p) < len(best.path) {
		return best, ""
	}
	return best, p[len(best.path):]
}

// mountsOf returns a namespace's mounts of one table, sorted by path.
func (s *Server) mountsOf(n *namespace, auth bool) []*mount {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*mount
	for _, m := range n.mounts {
		if m.auth == auth {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// allMounts returns every mount of every namespace.
func (s *Server) allMounts() []*mount {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*mount
	for _, n := range s.namespaces {
		for _, m := range n.mounts {
			out = append(out, m)
		}
	}
	return out
}

// isUnauthenticated reports whether the backend declares rel (relative to
// the mount) as an unauthenticated path, e.g. "login".
func (m *mount) isUnauthenticated(rel string) bool {
	if m.special == nil {
		return false
	}
	for _, p := range m.special.Unauthenticated {
		if specialPathMatch(p, rel) {
			return true
		}
	}
	return false
}

// specialPathMatch matches a PathsSpecial entry: exact, trailing "*" prefix
// or "+" single-segment wildcards.
func specialPathMatch(pattern, p string) bool {
	prefix := strings.HasSuffix(pattern, "*")
	pattern = strings.TrimSuffix(pattern, "*")
	if !strings.Contains(pattern, "+") {
		if prefix {
			return strings.HasPrefix(p, pattern)
		}
		return p == pattern
	}
	return segmentsMatch(pattern, prefix, p)
}

// mountInfo is a mount's entry in sys/mounts, sys/auth and
// sys/internal/ui/mounts.
func (m *mount) info() map[string]interface{} {
	var opts map[string]string
	if len(m.options) > 0 {
		opts = maps.Clone(m.options)
	}
	return map[string]interface{}{
		"type":        m.typ,
		"description": m.description,
		"accessor":    m.accessor,
		"uuid":        m.uuid,
		"local":       false,
		"seal_wrap":   false,
		"options":     opts,
		"config": map[string]interface{}{
			"default_lease_ttl": int64(m.defaultTTL.Seconds()),
			"max_lease_ttl":     int64(m.maxTTL.Seconds()),
			"force_no_cache":    false,
		},
		"external_entropy_access": false,
		"plugin_version":          "",
		"running_plugin_version":  "v" + Version + "+builtin",
		"running_sha256":          "",
	}
}

// errNoHandler is Vault's answer for a path that no mount serves.
func errNoHandler(p string) error {
	return errors.New("no handler for route \"" + p + "\". route entry not found.")
}
