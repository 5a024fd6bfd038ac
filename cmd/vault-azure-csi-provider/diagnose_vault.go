package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/provider/vaultclient"
)

func (d *diagnosis) checkVault(ctx context.Context) bool {
	addr := d.vaultAddress()
	c, err := vaultclient.NewPool(d.mo.VaultTimeout, nil).Get(addr, d.prm.TLS)
	if err != nil {
		d.r.fail(stepVault, err, explanation{fix: "correct the TLS parameter named in the error"})
		return false
	}
	c.SetMaxRetries(0)
	d.vault = c
	h, err := c.Sys().HealthWithContext(ctx)
	if err != nil {
		d.r.fail(stepVault, err, explanation{
			why: fmt.Sprintf("Vault at %s did not answer sys/health%s", addr, retry.TLSHint(err.Error())),
			fix: "check vaultAddress (or --vault-addr), DNS and network policies between the provider and Vault"})
		return false
	}
	switch {
	case !h.Initialized:
		d.r.fail(stepVault, nil, explanation{why: "Vault is not initialized", fix: "vault operator init"})
		return false
	case h.Sealed:
		d.r.fail(stepVault, nil, explanation{why: "Vault is sealed", fix: "vault operator unseal (or check auto-unseal)"})
		return false
	}
	state := "active"
	if h.Standby {
		state = "standby (requests are forwarded)"
	}
	d.r.ok(stepVault, fmt.Sprintf("%s: version %s, initialized, unsealed, %s", addr, cmp.Or(h.Version, "unknown"), state))
	return true
}

func (d *diagnosis) checkLogin(ctx context.Context) bool {
	lease, err := d.w.Manager.Token(ctx, d.vault, d.areq)
	if err != nil {
		d.r.fail(stepLogin, err, d.explainLogin(err))
		d.compareRole(ctx)
		return false
	}
	token := lease.Token
	d.vaultToken = token
	detail := fmt.Sprintf("role %q at auth/%s", d.prm.RoleName, d.prm.AuthMountPath)
	if oid, ok := d.azClaims["oid"].(string); ok {
		detail += " accepted oid " + oid
	} else if sub, ok := d.saClaims["sub"].(string); ok {
		detail += " accepted " + sub
	}
	c, err := d.vault.Clone()
	if err == nil {
		c.SetToken(token)
		c.SetNamespace(d.prm.VaultNamespace)
		if s, lerr := c.Auth().Token().LookupSelfWithContext(ctx); lerr == nil && s != nil {
			d.policies, _ = s.TokenPolicies()
			ttl, _ := s.TokenTTL()
			detail += fmt.Sprintf("; token policies %q, ttl %s", d.policies, ttl)
		}
	}
	d.r.ok(stepLogin, detail)
	return true
}

// explainLogin turns Vault's refusal of a login into a reason and a fix:
// a missing role or auth mount here, the rest by the method.
func (d *diagnosis) explainLogin(err error) explanation {
	msg := err.Error()
	p := d.prm
	switch {
	case containsAny(msg, "invalid role name", "role not found", "role \""+p.RoleName+"\" could not be found"):
		return explanation{why: fmt.Sprintf("there is no role %q at auth/%s", p.RoleName, p.AuthMountPath),
			fix: fmt.Sprintf("vault list auth/%s/role, then set roleName to one of them", p.AuthMountPath)}
	case strings.Contains(msg, "no handler for route"):
		return explanation{why: fmt.Sprintf("no auth method is enabled at auth/%s", p.AuthMountPath),
			fix: fmt.Sprintf("vault auth enable -path=%s %s, or set vaultAuthMountPath", p.AuthMountPath, p.AuthMethod)}
	}
	dg, ok := d.method().(auth.Diagnoser)
	if !ok {
		return explanation{why: "Vault refused the login"}
	}
	f := dg.ExplainLogin(&auth.Diagnosis{Request: d.authRequest(), TokenClaims: d.saClaims, CredentialClaims: d.azClaims}, err)
	return explanation{why: f.Why, fix: f.Fix}
}

// capabilitiesOn asks Vault what the identity's token may do on path. It
// asks the manager for the token again: the Mount may have replaced the
// login's token (a 403 on a cached token drops and revokes it).
func (d *diagnosis) capabilitiesOn(ctx context.Context, path string) ([]string, error) {
	c, err := d.vault.Clone()
	if err != nil {
		return nil, err
	}
	token := d.vaultToken
	if lease, err := d.w.Manager.Token(ctx, d.vault, d.areq); err == nil {
		token = lease.Token
	}
	c.SetToken(token)
	c.SetNamespace(d.prm.VaultNamespace)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Sys().CapabilitiesSelfWithContext(ctx, path)
}

// neededCapability is what a policy must grant for the object's method.
func neededCapability(method string) string {
	if method == http.MethodGet {
		return `["read"]`
	}
	return `["create", "update"]`
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// stepRole compares an azure role with the token, when VAULT_TOKEN (the
// operator's, as for the vault CLI) may read the role.
const stepRole = "role bounds match the token"

// compareRole reads the azure role with VAULT_TOKEN and says which of its
// bounds the token cannot meet. Without VAULT_TOKEN it says how to enable it.
func (d *diagnosis) compareRole(ctx context.Context) {
	a, ok := d.areq.Params.(*azure.Params)
	if !ok || a == nil {
		return
	}
	path := fmt.Sprintf("auth/%s/role/%s", d.prm.AuthMountPath, d.prm.RoleName)
	token := os.Getenv("VAULT_TOKEN")
	if token == "" {
		d.r.skip(stepRole, "set VAULT_TOKEN to a token that may read "+path+" to compare the role with the token")
		return
	}
	c, err := d.vault.Clone()
	if err != nil {
		return
	}
	c.SetToken(token)
	c.SetNamespace(d.prm.VaultNamespace)
	sec, err := c.Logical().ReadWithContext(ctx, path)
	if err != nil || sec == nil {
		d.r.fail(stepRole, err, explanation{why: "VAULT_TOKEN could not read " + path})
		return
	}
	findings := azure.RoleFindings(sec.Data, d.azClaims, *a)
	if len(findings) == 0 {
		d.r.ok(stepRole, path+": no bound the token fails was found")
		return
	}
	d.r.fail(stepRole, nil, explanation{why: strings.Join(findings, "; "), fix: "vault write " + path + " with bounds the token meets (vault read " + path + ")"})
}
