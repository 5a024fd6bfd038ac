package vaultfront

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/helper/base62"
)

// namespace is one Vault namespace: its own mounts, policies and tokens.
// Its maps are guarded by Server.mu.
type namespace struct {
	path     string // "" for the root namespace, "a" or "a/b" otherwise
	id       string
	mounts   map[string]*mount  // keyed by routing prefix: "secret/", "auth/jwt/"
	policies map[string]*policy // keyed by policy name
}

// reservedNamespaceNames cannot name a namespace (they are Vault's own paths).
var reservedNamespaceNames = map[string]bool{
	"sys": true, "auth": true, "audit": true, "cubbyhole": true, "identity": true, "root": true,
}

// namespaceNameRe is what a namespace name may contain.
var namespaceNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// normalizeNamespace trims spaces and slashes: " a/b/ " becomes "a/b";
// "root" is the root namespace, "".
func normalizeNamespace(ns string) string {
	ns = strings.Trim(strings.TrimSpace(ns), "/")
	if ns == "root" {
		return ""
	}
	return ns
}

// CreateNamespace creates the namespace ns (and its parents). Creating an
// existing namespace is not an error. ns "" is the root namespace.
func (s *Server) CreateNamespace(ns string) error {
	_, err := s.ensureNamespace(ns)
	return err
}

// ensureNamespace returns the namespace ns, creating it and its parents.
func (s *Server) ensureNamespace(ns string) (*namespace, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ensureNamespaceLocked(normalizeNamespace(ns))
}

// ensureNamespaceLocked is ensureNamespace with Server.mu held.
func (s *Server) ensureNamespaceLocked(p string) (*namespace, error) {
	if n := s.namespaces[p]; n != nil {
		return n, nil
	}
	id := "root"
	if p != "" {
		parent, name := "", p
		if i := strings.LastIndex(p, "/"); i >= 0 {
			parent, name = p[:i], p[i+1:]
		}
		if !namespaceNameRe.MatchString(name) || reservedNamespaceNames[name] {
			return nil, fmt.Errorf("vaultfront: invalid namespace name %q", name)
		}
		if _, err := s.ensureNamespaceLocked(parent); err != nil {
			return nil, err
		}
		r, err := base62.Random(5)
		if err != nil {
			return nil, fmt.Errorf("vaultfront: generate namespace id: %w", err)
		}
		id = r
	}
	def, err := parsePolicy("default", defaultPolicyHCL)
	if err != nil {
		return nil, fmt.Errorf("vaultfront: parse default policy: %w", err)
	}
	n := &namespace{
		path:     p,
		id:       id,
		mounts:   map[string]*mount{},
		policies: map[string]*policy{"default": def},
	}
	s.namespaces[p] = n
	return n, nil
}

// resolveNamespace applies the X-Vault-Namespace header and then consumes
// leading path segments naming child namespaces ("/v1/ns1/secret/x"). It
// returns the namespace path, the namespace (nil if it does not exist) and
// the path relative to it.
func (s *Server) resolveNamespace(header, path string) (string, *namespace, string) {
	nsPath := normalizeNamespace(header)
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns := s.namespaces[nsPath]
	if ns == nil {
		return nsPath, nil, path
	}
	for {
		seg, rest, ok := strings.Cut(path, "/")
		if !ok || reservedNamespaceNames[seg] {
			return nsPath, ns, path
		}
		childPath := seg
		if nsPath != "" {
			childPath = nsPath + "/" + seg
		}
		child := s.namespaces[childPath]
		if child == nil {
			return nsPath, ns, path
		}
		nsPath, ns, path = childPath, child, rest
	}
}

// childNamespaces lists the direct children of ns, as "name/" keys.
func (s *Server) childNamespaces(ns string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []string
	for p := range s.namespaces {
		if p == "" || p == ns {
			continue
		}
		rest, ok := strings.CutPrefix(p, ns+"/")
		if ns == "" {
			rest, ok = p, true
		}
		if ok && !strings.Contains(rest, "/") {
			keys = append(keys, rest+"/")
		}
	}
	sort.Strings(keys)
	return keys
}

// namespaceInfo is the data of a sys/namespaces/<path> read.
func namespaceInfo(n *namespace) map[string]interface{} {
	p := n.path
	if p != "" {
		p += "/"
	}
	return map[string]interface{}{"id": n.id, "path": p, "custom_metadata": map[string]string{}}
}

// deleteNamespace removes a namespace and its descendants: their mounts are
// cleaned up, their leases revoked and their tokens forgotten.
func (s *Server) deleteNamespace(p string) {
	if p == "" {
		return
	}
	s.mu.Lock()
	var removed []*namespace
	for k, n := range s.namespaces {
		if k == p || strings.HasPrefix(k, p+"/") {
			removed = append(removed, n)
			delete(s.namespaces, k)
		}
	}
	s.mu.Unlock()
	for _, n := range removed {
		for key := range n.mounts {
			_ = s.disable(n, key)
		}
		s.tokens.removeNamespace(n.path)
	}
}
