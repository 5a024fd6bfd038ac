package vaultfront

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// PutPolicy creates or replaces the ACL policy name in namespace ns from
// Vault policy HCL, e.g. `path "secret/data/*" { capabilities = ["read"] }`.
func (s *Server) PutPolicy(ns, name, hcl string) error {
	n, err := s.ensureNamespace(ns)
	if err != nil {
		return err
	}
	if err := s.putPolicy(n, name, hcl); err != nil {
		return fmt.Errorf("vaultfront: put policy %q: %w", name, err)
	}
	return nil
}

// putPolicy parses and stores a policy; names are lower-cased like Vault.
func (s *Server) putPolicy(n *namespace, name, text string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	switch name {
	case "":
		return errors.New("policy name must be provided")
	case "root":
		return errors.New("cannot update \"root\" policy")
	}
	p, err := parsePolicy(name, text)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n.policies[name] = p
	return nil
}

// deletePolicy removes a policy; "default" and "root" cannot be deleted.
func (s *Server) deletePolicy(n *namespace, name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "default" || name == "root" {
		return fmt.Errorf("cannot delete %q policy", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(n.policies, name)
	return nil
}

// getPolicy returns a stored policy, or nil.
func (s *Server) getPolicy(n *namespace, name string) *policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return n.policies[strings.ToLower(name)]
}

// policyNames lists the namespace's policies, with "root" as Vault does.
func (s *Server) policyNames(n *namespace) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := []string{"root"}
	for k := range n.policies {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// aclFor builds the ACL of a set of policy names in a namespace; unknown
// names grant nothing, "root" grants everything.
func (s *Server) aclFor(n *namespace, names []string) *acl {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ps []*policy
	for _, name := range names {
		if name == "root" {
			ps = append(ps, &policy{name: "root"})
			continue
		}
		if p := n.policies[name]; p != nil {
			ps = append(ps, p)
		}
	}
	return newACL(ps)
}
