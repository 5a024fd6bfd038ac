package vaultfront

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/logical"
)

func TestACLMatching(t *testing.T) {
	p1, err := parsePolicy("p1", `
path "secret/data/app/*"       { capabilities = ["read", "list"] }
path "secret/data/app/admin"   { capabilities = ["deny"] }
path "secret/data/+/shared"    { capabilities = ["read"] }
path "secret/data/+/shared/*"  { capabilities = ["update"] }
path "kv/exact"                { capabilities = ["create", "update"] }
path "kv/legacy/*"             { policy = "write" }
path "sys/auth/*"              { capabilities = ["update", "sudo"] }
path "sys/mounts/*"            { capabilities = ["update"] }
`)
	must(t, err)
	p2, err := parsePolicy("p2", `path "kv/exact" { capabilities = ["read"] }
path "secret/data/app/admin" { capabilities = ["read"] }`)
	must(t, err)
	a := newACL([]*policy{p1, p2})

	tests := []struct {
		path string
		op   logical.Operation
		sudo bool
		want bool
	}{
		{"secret/data/app/db", logical.ReadOperation, false, true},
		{"secret/data/app/db", logical.UpdateOperation, false, false},
		{"secret/data/app/", logical.ListOperation, false, true},
		{"secret/data/app/admin", logical.ReadOperation, false, false}, // deny wins over p2's read
		{"secret/data/team/shared", logical.ReadOperation, false, true},
		{"secret/data/team/other", logical.ReadOperation, false, false},
		{"secret/data/team/shared/x", logical.UpdateOperation, false, true},
		{"secret/data/a/b/shared", logical.ReadOperation, false, false}, // + is one segment
		{"kv/exact", logical.ReadOperation, false, true},                // merged from p2
		{"kv/exact", logical.CreateOperation, false, true},
		{"kv/exact/more", logical.ReadOperation, false, false},
		{"kv/legacy/x", logical.DeleteOperation, false, true},
		{"sys/auth/jwt", logical.UpdateOperation, true, true},
		{"sys/mounts/x", logical.UpdateOperation, true, false}, // no sudo
		{"sys/mounts/x", logical.UpdateOperation, false, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.op)+" "+tc.path, func(t *testing.T) {
			if got := a.allowed(tc.path, tc.op, tc.sudo); got != tc.want {
				t.Errorf("allowed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestACLPriority(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		path   string
		want   capability
	}{
		{"longer glob wins", `path "a/*" { capabilities = ["read"] }
path "a/b/*" { capabilities = ["list"] }`, "a/b/c", capList},
		{"glob after wildcard beats earlier wildcard", `path "a/+/c" { capabilities = ["read"] }
path "a/b/*" { capabilities = ["list"] }`, "a/b/c", capList},
		{"non-prefix wildcard beats prefix at same position", `path "a/+/c" { capabilities = ["read"] }
path "a/+/c*" { capabilities = ["list"] }`, "a/b/c", capRead},
		{"fewer wildcards win", `path "a/+/+/d" { capabilities = ["read"] }
path "a/+/c/d" { capabilities = ["list"] }`, "a/b/c/d", capList},
		{"exact beats globs", `path "a/*" { capabilities = ["read"] }
path "a/b" { capabilities = ["list"] }`, "a/b", capList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePolicy("p", tc.policy)
			must(t, err)
			if got := newACL([]*policy{p}).capabilities(tc.path); got != tc.want {
				t.Errorf("capabilities(%s) = %v, want %v", tc.path, capabilityList(got), capabilityList(tc.want))
			}
		})
	}
}

func TestPolicyParseErrors(t *testing.T) {
	for _, text := range []string{
		`path "a" { capabilities = ["fly"] }`,
		`path "a" { bogus = true }`,
		`nonsense "a" {}`,
		`path "a" { policy = "maybe" }`,
		`path "a" {`,
	} {
		if _, err := parsePolicy("p", text); err == nil {
			t.Errorf("parsePolicy(%q) succeeded", text)
		}
	}
}

func TestPolicyAllowDenyOverHTTP(t *testing.T) {
	s := newTestServer(t)
	root := newClient(t, s, s.RootToken(), "")
	// Configure over HTTP, as a demo against real Vault would.
	must(t, root.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	must(t, root.Sys().PutPolicy("reader", `path "secret/data/app/*" { capabilities = ["read"] }`))
	_, err := root.Logical().Write("sys/policies/acl/writer", map[string]interface{}{
		"policy": `path "secret/data/app/*" { capabilities = ["create", "update"] }`})
	must(t, err)
	_, err = root.Logical().Write("secret/data/app/db", map[string]interface{}{"data": map[string]interface{}{"pw": "x"}})
	must(t, err)
	_, err = root.Logical().Write("secret/data/other/db", map[string]interface{}{"data": map[string]interface{}{"pw": "y"}})
	must(t, err)

	reader := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"reader"}}), "")
	writer := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"writer"}}), "")
	tests := []struct {
		name   string
		c      *api.Client
		write  bool
		path   string
		status int
	}{
		{"reader reads allowed path", reader, false, "secret/data/app/db", 0},
		{"reader refused other path", reader, false, "secret/data/other/db", http.StatusForbidden},
		{"reader refused write", reader, true, "secret/data/app/db", http.StatusForbidden},
		{"writer updates existing", writer, true, "secret/data/app/db", 0},
		{"writer creates new", writer, true, "secret/data/app/new", 0},
		{"writer refused read", writer, false, "secret/data/app/db", http.StatusForbidden},
		{"reader refused sys/mounts", reader, false, "sys/mounts", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.write {
				_, err = tc.c.Logical().Write(tc.path, map[string]interface{}{"data": map[string]interface{}{"pw": "z"}})
			} else {
				_, err = tc.c.Logical().Read(tc.path)
			}
			if tc.status == 0 {
				must(t, err)
				return
			}
			wantStatus(t, err, tc.status)
			if !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("error %q does not say permission denied", err)
			}
		})
	}
}

func TestSysConfigurationOverHTTP(t *testing.T) {
	s := newTestServer(t)
	root := newClient(t, s, s.RootToken(), "")
	must(t, root.Sys().Mount("kv1", &api.MountInput{Type: "kv"}))
	must(t, root.Sys().Mount("kv2", &api.MountInput{Type: "kv-v2", Config: api.MountConfigInput{DefaultLeaseTTL: "30m"}}))
	must(t, root.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}))
	wantStatus(t, root.Sys().Mount("kv1/nested", &api.MountInput{Type: "kv"}), http.StatusBadRequest)
	wantStatus(t, root.Sys().Mount("bad", &api.MountInput{Type: "nosuch"}), http.StatusBadRequest)

	mounts, err := root.Sys().ListMounts()
	must(t, err)
	if m := mounts["kv2/"]; m == nil || m.Type != "kv" || m.Options["version"] != "2" || m.Config.DefaultLeaseTTL != 1800 {
		t.Errorf("kv2/ = %+v", m)
	}
	if m := mounts["kv1/"]; m == nil || m.Type != "kv" {
		t.Errorf("kv1/ = %+v", m)
	}
	auths, err := root.Sys().ListAuth()
	must(t, err)
	if a := auths["jwt/"]; a == nil || a.Type != "jwt" {
		t.Errorf("jwt/ = %+v", auths)
	}
	if auths["token/"] == nil {
		t.Errorf("token/ missing from %v", auths)
	}
	policies, err := root.Sys().ListPolicies()
	must(t, err)
	if strings.Join(policies, ",") != "default,root" {
		t.Errorf("policies = %v", policies)
	}
	must(t, root.Sys().PutPolicy("p", `path "x/*" { capabilities = ["read"] }`))
	got, err := root.Sys().GetPolicy("p")
	if err != nil || !strings.Contains(got, `path "x/*"`) {
		t.Errorf("GetPolicy = %q, %v", got, err)
	}
	wantStatus(t, root.Sys().PutPolicy("bad", `path "x" { capabilities = ["fly"] }`), http.StatusBadRequest)
	must(t, root.Sys().DeletePolicy("p"))
	must(t, root.Sys().Unmount("kv1"))
	_, err = root.Logical().Write("kv1/x", map[string]interface{}{"a": "b"})
	wantStatus(t, err, http.StatusNotFound)
}
