package vaultfront

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/parseutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// sysPolicyList answers GET sys/policy and LIST sys/policies/acl.
func (s *Server) sysPolicyList(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.ReadOperation && c.op != logical.ListOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	names := s.policyNames(c.rc.ns)
	resp := logical.ListResponse(names)
	if c.sub == "policy" {
		resp.Data["policies"] = names
	}
	return resp, nil
}

// sysPolicy answers sys/policy/<name> and sys/policies/acl/<name>.
func (s *Server) sysPolicy(_ context.Context, c *sysCall) (*logical.Response, error) {
	legacy := strings.HasPrefix(c.sub, "policy/")
	name := strings.TrimPrefix(strings.TrimPrefix(c.sub, "policy/"), "policies/acl/")
	field := "policy"
	if legacy {
		field = "rules"
	}
	switch c.op {
	case logical.ReadOperation:
		if strings.ToLower(name) == "root" {
			return &logical.Response{Data: map[string]interface{}{"name": "root", field: ""}}, nil
		}
		p := s.getPolicy(c.rc.ns, name)
		if p == nil {
			return nil, nil
		}
		return &logical.Response{Data: map[string]interface{}{"name": p.name, field: p.raw}}, nil
	case logical.UpdateOperation, logical.CreateOperation:
		text, _ := c.data["policy"].(string)
		if text == "" {
			text, _ = c.data["rules"].(string)
		}
		if text == "" {
			return logical.ErrorResponse("'policy' parameter not supplied or empty"), logical.ErrInvalidRequest
		}
		if dec, err := base64.StdEncoding.DecodeString(text); err == nil {
			text = string(dec)
		}
		if err := s.putPolicy(c.rc.ns, name, text); err != nil {
			return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
		}
		return nil, nil
	case logical.DeleteOperation:
		if err := s.deletePolicy(c.rc.ns, name); err != nil {
			return logical.ErrorResponse(err.Error()), logical.ErrInvalidRequest
		}
		return nil, nil
	default:
		return nil, logical.ErrUnsupportedOperation
	}
}

// leaseIDOf reads the lease id from the path after prefix or from the
// "lease_id" parameter.
func leaseIDOf(c *sysCall, prefix string) string {
	if id := strings.TrimPrefix(strings.TrimPrefix(c.sub, prefix), "/"); id != "" {
		return id
	}
	id, _ := c.data["lease_id"].(string)
	return id
}

// sysLeaseLookup answers PUT sys/leases/lookup {lease_id}.
func (s *Server) sysLeaseLookup(_ context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.UpdateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	now := time.Now()
	l, ok := s.leases.get(c.rc.nsPath, leaseIDOf(c, "leases/lookup"), now)
	if !ok {
		return logical.ErrorResponse("invalid lease"), logical.ErrInvalidRequest
	}
	return &logical.Response{Data: leaseLookupData(l, now)}, nil
}

// sysLeaseRevoke answers PUT sys/leases/revoke {lease_id} (and
// sys/leases/revoke/<id>, sys/revoke/<id>); unknown leases succeed, as in Vault.
func (s *Server) sysLeaseRevoke(ctx context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.UpdateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	prefix := "leases/revoke"
	if strings.HasPrefix(c.sub, "revoke") {
		prefix = "revoke"
	}
	id := leaseIDOf(c, prefix)
	if id == "" {
		return logical.ErrorResponse("lease_id must be specified"), logical.ErrInvalidRequest
	}
	if l := s.leases.remove(c.rc.nsPath, id); l != nil {
		s.revokeLeaseBackend(ctx, l)
	}
	return nil, nil
}

// sysLeaseRevokePrefix answers PUT sys/leases/revoke-prefix/<prefix>.
func (s *Server) sysLeaseRevokePrefix(ctx context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.UpdateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	prefix := strings.TrimPrefix(c.sub, "leases/revoke-prefix/")
	ns := c.rc.nsPath
	for _, l := range s.leases.removeWhere(func(l *lease) bool { return l.ns == ns && strings.HasPrefix(l.id, prefix) }) {
		s.revokeLeaseBackend(ctx, l)
	}
	return nil, nil
}

// sysLeaseRenew answers PUT sys/leases/renew {lease_id, increment}.
func (s *Server) sysLeaseRenew(ctx context.Context, c *sysCall) (*logical.Response, error) {
	if c.op != logical.UpdateOperation {
		return nil, logical.ErrUnsupportedOperation
	}
	prefix := "leases/renew"
	if strings.HasPrefix(c.sub, "renew") {
		prefix = "renew"
	}
	increment, err := parseutil.ParseDurationSecond(c.data["increment"])
	if err != nil {
		return logical.ErrorResponse("invalid increment: %s", err), logical.ErrInvalidRequest
	}
	l, ok := s.leases.get(c.rc.nsPath, leaseIDOf(c, prefix), time.Now())
	if !ok {
		return logical.ErrorResponse("lease not found"), logical.ErrInvalidRequest
	}
	return s.renewLease(ctx, l, increment)
}
