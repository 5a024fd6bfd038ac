package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
)

// mountObjects runs the provider's Mount, exactly as for the driver. If it
// fails, each object is mounted alone to find and explain the failing ones.
func (d *diagnosis) mountObjects(ctx context.Context) bool {
	res, err := d.w.Provider.Mount(ctx, d.attrs, d.mo.out, "420")
	if err != nil {
		d.diagnoseObjects(ctx, err)
		return false
	}
	for i, f := range res.Files {
		d.r.ok(objectStep(d.prm.Objects[i]), fmt.Sprintf("%d bytes, mode %04o", len(f.Contents), f.Mode.Perm()))
	}
	if d.mo.out == "" {
		d.r.skip(stepWrite, "no --out")
		return true
	}
	if err := writeFiles(d.mo.out, res.Files); err != nil {
		d.r.fail(stepWrite, err, explanation{fix: "pass a writable directory in --out"})
		return false
	}
	d.r.ok(stepWrite, fmt.Sprintf("%d files under %s", len(res.Files), d.mo.out))
	return true
}

func objectStep(o params.Object) string {
	s := fmt.Sprintf("object %s readable (%s %s", o.ObjectName, o.Method, o.SecretPath)
	if o.SecretKey != "" {
		s += ", key " + o.SecretKey
	}
	return s + ")"
}

// diagnoseObjects mounts each object alone; mountErr is the whole mount's
// failure, reported if no single object fails (e.g. the size limit).
func (d *diagnosis) diagnoseObjects(ctx context.Context, mountErr error) {
	failed := 0
	for i, o := range d.prm.Objects {
		attrs, err := objectAttributes(d.attrs, i)
		if err == nil {
			_, err = d.w.Provider.Mount(ctx, attrs, d.mo.out, "420")
		}
		if err != nil {
			failed++
			d.r.fail(objectStep(o), err, d.explainObject(ctx, o, err))
			continue
		}
		d.r.ok(objectStep(o), "readable on its own")
	}
	if failed == 0 {
		d.r.fail("mount", mountErr, explanation{why: "every object is readable on its own, but the mount as a whole failed"})
	}
}

// explainObject turns a failure to read one object into a reason and a fix.
func (d *diagnosis) explainObject(ctx context.Context, o params.Object, err error) explanation {
	var se *secrets.Error
	var ce *provider.ContentError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusForbidden:
		return d.explainDenied(ctx, o, se.Path)
	case errors.As(err, &se) && se.Status == http.StatusNotFound:
		return explanation{why: fmt.Sprintf("Vault has no secret at %s", se.Path),
			fix: fmt.Sprintf("check secretPath (vault kv list on its parent, or vault read %s); for KV v2 the secret needs a current version", se.Path)}
	case errors.As(err, &se):
		return explanation{why: fmt.Sprintf("Vault answered %s %s with HTTP %d", se.Method, se.Path, se.Status)}
	case errors.As(err, &ce):
		return explanation{why: "the secret exists but has no such key, or its value cannot be decoded as the encoding parameter says",
			fix: "set secretKey to one of the keys listed in the error (dotted paths reach nested keys), or fix encoding"}
	}
	return explanation{}
}

// explainDenied shows what the token's policies grant on path.
func (d *diagnosis) explainDenied(ctx context.Context, o params.Object, path string) explanation {
	need := neededCapability(o.Method)
	granted := "unknown"
	if caps, err := d.capabilitiesOn(ctx, path); err == nil {
		granted = fmt.Sprintf("%q", caps)
	}
	kv2 := ""
	if strings.Contains(path, "/data/") {
		kv2 = " (KV v2: the policy path includes data/)"
	}
	return explanation{
		why: fmt.Sprintf("the policies of role %q (%q) grant %s on %s; %s needs %s", d.prm.RoleName, d.policies, granted, path, o.Method, need),
		fix: fmt.Sprintf("add to one of the role's policies: path %q { capabilities = %s }%s, or add a policy that has it to the role's token_policies", path, need, kv2)}
}
