// Package allow holds what a cluster admin allows SecretProviderClasses,
// which namespace users write: the Vault addresses they may name, the
// directories their TLS files may be in, and which namespaces may present
// the node's managed identities, to which Vault.
package allow

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Addresses are patterns of Vault addresses: scheme://host[:port], where
// * in the host matches any run of characters but ".", ":" and "/" (as
// path.Match), e.g. https://vault.vault.svc:8200 or https://*.vault.example.com.
// An empty list allows every address.
type Addresses []string

// ParseAddresses checks the patterns of a flag.
func ParseAddresses(patterns []string) (Addresses, error) {
	for _, p := range patterns {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.User != nil {
			return nil, fmt.Errorf("%q is not a Vault address pattern (scheme://host[:port], * allowed in the host)", p)
		}
		if _, err := path.Match(u.Host, ""); err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
	}
	return Addresses(patterns), nil
}

// Allows reports whether address matches a pattern (or the list is empty).
func (a Addresses) Allows(address string) bool {
	if len(a) == 0 {
		return true
	}
	return a.Lists(address)
}

// Lists reports whether address matches a pattern of a non-empty list.
func (a Addresses) Lists(address string) bool {
	u, err := url.Parse(address)
	if err != nil || u.User != nil {
		return false
	}
	host := strings.ToLower(u.Host)
	for _, p := range a {
		pu, _ := url.Parse(p)
		if pu.Scheme != strings.ToLower(u.Scheme) {
			continue
		}
		if hostMatch(strings.ToLower(pu.Host), host) && strings.Trim(u.Path, "/") == "" {
			return true
		}
	}
	return false
}

// hostMatch matches host[:port] label by label: * stays within a label.
func hostMatch(pattern, host string) bool {
	pl, hl := strings.Split(pattern, "."), strings.Split(host, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if ok, _ := path.Match(pl[i], hl[i]); !ok {
			return false
		}
	}
	return true
}

// Directories are the directories TLS files may be in; "{namespace}" in
// one stands for the class's namespace (/etc/vault-tls/{namespace}). An
// empty list allows every path.
type Directories []string

// ParseDirectories checks the directories of a flag.
func ParseDirectories(dirs []string) (Directories, error) {
	out := make(Directories, 0, len(dirs))
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("%q is not an absolute directory", d)
		}
		out = append(out, filepath.Clean(d))
	}
	return out, nil
}

// Allows reports whether file, named by a class of namespace, is inside one
// of the directories (as written: a symbolic link is followed when the file
// is read, so the directories should hold only what their namespaces may
// use).
func (d Directories) Allows(file, namespace string) bool {
	if len(d) == 0 {
		return true
	}
	if !filepath.IsAbs(file) || strings.Contains(namespace, "/") || namespace == "" || namespace == "." || namespace == ".." {
		return false
	}
	clean := filepath.Clean(file)
	return slices.ContainsFunc(d, func(dir string) bool {
		dir = strings.ReplaceAll(dir, "{namespace}", namespace)
		return strings.HasPrefix(clean, dir+string(filepath.Separator))
	})
}

// NodeIdentity lets the pods of Namespace present the node's managed
// identity ClientID: "*" for any namespace or any identity, "system" for
// the system-assigned one.
type NodeIdentity struct {
	Namespace, ClientID string
}

// SystemAssigned names the node's system-assigned identity in a rule.
const SystemAssigned = "system"

// NodeIdentities are the rules; none allows no namespace.
type NodeIdentities []NodeIdentity

// ParseNodeIdentities reads rules written <namespace>:<clientID>, where
// either may be *, and the client ID may be system; a rule without ":"
// allows every identity to the namespace (the older
// --allow-node-identity-namespaces).
func ParseNodeIdentities(entries []string) (NodeIdentities, error) {
	var out NodeIdentities
	for _, e := range entries {
		ns, id, ok := strings.Cut(e, ":")
		if !ok {
			id = "*"
		}
		ns, id = strings.TrimSpace(ns), strings.ToLower(strings.TrimSpace(id))
		if ns == "" || id == "" {
			return nil, fmt.Errorf("%q is not <namespace>:<clientID> (either may be *, the client ID may be %s)", e, SystemAssigned)
		}
		out = append(out, NodeIdentity{Namespace: ns, ClientID: id})
	}
	return out, nil
}

// Namespace reports whether namespace may present any node identity.
func (n NodeIdentities) Namespace(namespace string) bool {
	return namespace != "" && slices.ContainsFunc(n, func(r NodeIdentity) bool { return r.Namespace == "*" || r.Namespace == namespace })
}

// Allows reports whether namespace may present the identity clientID (""
// is the system-assigned one).
func (n NodeIdentities) Allows(namespace, clientID string) bool {
	id := strings.ToLower(clientID)
	if id == "" {
		id = SystemAssigned
	}
	return namespace != "" && slices.ContainsFunc(n, func(r NodeIdentity) bool {
		return (r.Namespace == "*" || r.Namespace == namespace) && (r.ClientID == "*" || r.ClientID == id)
	})
}

// IdentitiesOf lists the identities namespace may present, for messages.
func (n NodeIdentities) IdentitiesOf(namespace string) []string {
	var ids []string
	for _, r := range n {
		if r.Namespace == "*" || r.Namespace == namespace {
			ids = append(ids, r.ClientID)
		}
	}
	return ids
}

// String writes the rules as the flag does.
func (n NodeIdentities) String() string {
	parts := make([]string, len(n))
	for i, r := range n {
		parts[i] = r.Namespace + ":" + r.ClientID
	}
	return strings.Join(parts, ",")
}
