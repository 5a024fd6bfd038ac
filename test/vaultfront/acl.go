package vaultfront

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/vault/sdk/helper/hclutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// capability is a bit set of Vault ACL capabilities.
type capability uint32

// The capabilities of Vault policies.
const (
	capDeny capability = 1 << iota
	capCreate
	capRead
	capUpdate
	capDelete
	capList
	capSudo
	capPatch
	capSubscribe
	capRecover
)

// capabilityNames maps policy capability names to bits.
var capabilityNames = map[string]capability{
	"deny": capDeny, "create": capCreate, "read": capRead, "update": capUpdate, "delete": capDelete,
	"list": capList, "sudo": capSudo, "patch": capPatch, "subscribe": capSubscribe, "recover": capRecover,
}

// legacyPolicyCaps maps the pre-0.9 `policy = "..."` form to capabilities.
var legacyPolicyCaps = map[string]capability{
	"deny":  capDeny,
	"read":  capRead | capList,
	"write": capCreate | capRead | capUpdate | capDelete | capList,
	"sudo":  capCreate | capRead | capUpdate | capDelete | capList | capSudo,
}

// defaultPolicyHCL is the part of Vault's built-in "default" policy that the
// front's endpoints can honour.
const defaultPolicyHCL = `
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "sys/internal/ui/resultant-acl" { capabilities = ["read"] }
path "sys/renew" { capabilities = ["update"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
`

// policy is a parsed ACL policy.
type policy struct {
	name  string
	raw   string
	rules []pathRule
}

// pathRule is one `path "..." { capabilities = [...] }` block.
type pathRule struct {
	pattern string
	caps    capability
}

// pathRuleHCL is the decoded body of a path block.
type pathRuleHCL struct {
	Policy       string   `hcl:"policy"`
	Capabilities []string `hcl:"capabilities"`
}

// validPathKeys are the keys Vault accepts in a path block.
var validPathKeys = []string{
	"comment", "policy", "capabilities", "allowed_parameters", "denied_parameters", "required_parameters",
	"min_wrapping_ttl", "max_wrapping_ttl", "mfa_methods", "control_group", "subscribe_event_types",
}

// parsePolicy parses Vault policy HCL (or JSON).
func parsePolicy(name, text string) (*policy, error) {
	root, err := hcl.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("failed to parse policy: %w", err)
	}
	list, ok := root.Node.(*ast.ObjectList)
	if !ok {
		return nil, errors.New("failed to parse policy: does not contain a root object")
	}
	if err := hclutil.CheckHCLKeys(list, []string{"name", "path"}); err != nil {
		return nil, fmt.Errorf("failed to parse policy: %w", err)
	}
	p := &policy{name: name, raw: text}
	for _, item := range list.Filter("path").Items {
		rule, err := parsePathRule(item)
		if err != nil {
			return nil, fmt.Errorf("failed to parse policy: %w", err)
		}
		p.rules = append(p.rules, rule)
	}
	return p, nil
}

// parsePathRule decodes one path block into a rule.
func parsePathRule(item *ast.ObjectItem) (pathRule, error) {
	if len(item.Keys) == 0 {
		return pathRule{}, errors.New("path block without a path")
	}
	key, _ := item.Keys[0].Token.Value().(string)
	key = strings.TrimPrefix(key, "/")
	if err := hclutil.CheckHCLKeys(item.Val, validPathKeys); err != nil {
		return pathRule{}, fmt.Errorf("path %q: %w", key, err)
	}
	var body pathRuleHCL
	if err := hcl.DecodeObject(&body, item.Val); err != nil {
		return pathRule{}, fmt.Errorf("path %q: %w", key, err)
	}
	rule := pathRule{pattern: key}
	if body.Policy != "" {
		c, ok := legacyPolicyCaps[body.Policy]
		if !ok {
			return pathRule{}, fmt.Errorf("path %q: invalid policy %q", key, body.Policy)
		}
		rule.caps |= c
	}
	for _, name := range body.Capabilities {
		c, ok := capabilityNames[name]
		if !ok {
			return pathRule{}, fmt.Errorf("path %q: invalid capability %q", key, name)
		}
		rule.caps |= c
	}
	if rule.caps&capDeny != 0 {
		rule.caps = capDeny
	}
	return rule, nil
}

// acl is the merged view of a token's policies.
type acl struct {
	root     bool
	exact    map[string]capability
	prefix   map[string]capability // pattern without the trailing "*"
	wildcard map[string]capability // patterns containing "+", maybe ending in "*"
}

// newACL merges policies as Vault does: the same path in several policies
// gets the union of capabilities, and deny wins.
func newACL(policies []*policy) *acl {
	a := &acl{exact: map[string]capability{}, prefix: map[string]capability{}, wildcard: map[string]capability{}}
	for _, p := range policies {
		if p.name == "root" {
			a.root = true
		}
		for _, r := range p.rules {
			switch {
			case strings.Contains(r.pattern, "+"):
				a.wildcard[r.pattern] = mergeCaps(a.wildcard[r.pattern], r.caps)
			case strings.HasSuffix(r.pattern, "*"):
				k := strings.TrimSuffix(r.pattern, "*")
				a.prefix[k] = mergeCaps(a.prefix[k], r.caps)
			default:
				a.exact[r.pattern] = mergeCaps(a.exact[r.pattern], r.caps)
			}
		}
	}
	return a
}

// mergeCaps unions capabilities; deny anywhere makes the result deny only.
func mergeCaps(old, add capability) capability {
	if (old|add)&capDeny != 0 {
		return capDeny
	}
	return old | add
}

// opCapability is the capability an operation needs.
func opCapability(op logical.Operation) capability {
	switch op {
	case logical.ReadOperation, logical.HeaderOperation:
		return capRead
	case logical.ListOperation:
		return capList
	case logical.CreateOperation:
		return capCreate
	case logical.UpdateOperation:
		return capUpdate
	case logical.DeleteOperation:
		return capDelete
	case logical.PatchOperation:
		return capPatch
	default:
		return capSudo
	}
}

// allowed reports whether the ACL allows op on path p (also requiring sudo
// for root-protected paths).
func (a *acl) allowed(p string, op logical.Operation, needSudo bool) bool {
	if a.root {
		return true
	}
	caps := a.capabilities(p)
	if op == logical.ListOperation && caps == 0 {
		caps = a.capabilities(strings.TrimSuffix(p, "/"))
	}
	if caps&capDeny != 0 {
		return false
	}
	if needSudo && caps&capSudo == 0 {
		return false
	}
	return caps&opCapability(op) != 0
}

// capabilities returns the capabilities the ACL grants on p: an exact rule,
// else the most specific glob or segment-wildcard rule by Vault's priority.
func (a *acl) capabilities(p string) capability {
	if c, ok := a.exact[p]; ok {
		return c
	}
	var best *candidate
	consider := func(c candidate) {
		if best == nil || best.lessThan(c) {
			best = &c
		}
	}
	longest, found := "", false
	for k := range a.prefix {
		if strings.HasPrefix(p, k) && (!found || len(k) > len(longest)) {
			longest, found = k, true
		}
	}
	if found {
		consider(candidate{firstWC: len(longest), isPrefix: true, path: longest, caps: a.prefix[longest]})
	}
	for pattern, caps := range a.wildcard {
		isPrefix := strings.HasSuffix(pattern, "*")
		trimmed := strings.TrimSuffix(pattern, "*")
		if segmentsMatch(trimmed, isPrefix, p) {
			consider(candidate{firstWC: strings.Index(trimmed, "+"), isPrefix: isPrefix,
				wildcards: strings.Count(trimmed, "+"), path: trimmed, caps: caps})
		}
	}
	if best == nil {
		return 0
	}
	return best.caps
}

// candidate is a non-exact rule that matches a path.
type candidate struct {
	firstWC   int
	isPrefix  bool
	wildcards int
	path      string
	caps      capability
}

// lessThan reports whether c has lower priority than o, using Vault's order:
// later first wildcard wins, then non-prefix, then fewer "+", then longer.
func (c candidate) lessThan(o candidate) bool {
	switch {
	case c.firstWC != o.firstWC:
		return c.firstWC < o.firstWC
	case c.isPrefix != o.isPrefix:
		return c.isPrefix
	case c.wildcards != o.wildcards:
		return c.wildcards > o.wildcards
	case len(c.path) != len(o.path):
		return len(c.path) < len(o.path)
	default:
		return c.path > o.path
	}
}

// segmentsMatch matches p against a pattern whose "+" segments match any one
// segment; with prefix set the last pattern segment is a prefix and any
// further segments of p are accepted.
func segmentsMatch(pattern string, prefix bool, p string) bool {
	pp := strings.Split(pattern, "/")
	ps := strings.Split(p, "/")
	if len(ps) < len(pp) || (!prefix && len(ps) != len(pp)) {
		return false
	}
	for i, seg := range pp {
		last := i == len(pp)-1
		switch {
		case seg == "+":
		case last && prefix:
			if !strings.HasPrefix(ps[i], seg) {
				return false
			}
		case seg != ps[i]:
			return false
		}
	}
	return true
}

// hasMountAccess reports whether the ACL grants anything but deny on the
// mount path or on some path under it, as Vault's sys/internal/ui/mounts
// check does.
func (a *acl) hasMountAccess(mountPath string) bool {
	if a.root {
		return true
	}
	if c := a.capabilities(mountPath); c != 0 && c&capDeny == 0 {
		return true
	}
	for _, rules := range []map[string]capability{a.exact, a.prefix} {
		for k, c := range rules {
			if strings.HasPrefix(k, mountPath) && c != 0 && c&capDeny == 0 {
				return true
			}
		}
	}
	mountSegs := strings.Split(strings.TrimSuffix(mountPath, "/"), "/")
	for pattern, c := range a.wildcard {
		if c == 0 || c&capDeny != 0 {
			continue
		}
		ps := strings.Split(strings.TrimSuffix(pattern, "*"), "/")
		if len(ps) > len(mountSegs) && segmentsMatch(strings.Join(ps[:len(mountSegs)], "/"), false,
			strings.Join(mountSegs, "/")) {
			return true
		}
	}
	return false
}

// capabilityList names the capabilities in c, as sys/capabilities-self does.
func capabilityList(c capability) []string {
	if c == 0 || c&capDeny != 0 {
		return []string{"deny"}
	}
	var out []string
	for _, name := range []string{"create", "delete", "list", "patch", "read", "recover", "subscribe", "sudo", "update"} {
		if c&capabilityNames[name] != 0 {
			out = append(out, name)
		}
	}
	return out
}
