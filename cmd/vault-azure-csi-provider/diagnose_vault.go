package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"strings"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
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
			why: fmt.Sprintf("Vault at %s did not answer sys/health%s", addr, auth.TLSHint(err.Error())),
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
	d.r.ok(stepVault, fmt.Sprintf("%s: version %s, initialized, unsealed, %s", addr, orText(h.Version, "unknown"), state))
	return true
}

func (d *diagnosis) checkLogin(ctx context.Context) bool {
	lease, err := d.w.Manager.Token(ctx, d.vault, d.areq)
	if err != nil {
		d.r.fail(stepLogin, err, d.explainLogin(err))
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

// explainLogin turns Vault's refusal of a login into a reason and a fix.
func (d *diagnosis) explainLogin(err error) explanation {
	msg := err.Error()
	p := d.prm
	aud, _ := d.azClaims["aud"].(string)
	tid, _ := d.azClaims["tid"].(string)
	switch {
	case containsAny(msg, "invalid role name", "role not found", "role \""+p.RoleName+"\" could not be found"):
		return explanation{why: fmt.Sprintf("there is no role %q at auth/%s", p.RoleName, p.AuthMountPath),
			fix: fmt.Sprintf("vault list auth/%s/role, then set roleName to one of them", p.AuthMountPath)}
	case strings.Contains(msg, "no handler for route"):
		return explanation{why: fmt.Sprintf("no auth method is enabled at auth/%s", p.AuthMountPath),
			fix: fmt.Sprintf("vault auth enable -path=%s %s, or set vaultAuthMountPath", p.AuthMountPath, p.AuthMethod)}
	case p.AuthMethod != params.MethodAzure:
		return d.explainServiceAccountLogin(msg, fmt.Sprintf("auth/%s/role/%s", p.AuthMountPath, p.RoleName))
	}
	facts := azure.LoginFacts{MountPath: p.AuthMountPath, Role: p.RoleName, Resource: orText(aud, p.Azure.Resource), TokenTenant: tid}
	if e, ok := azure.ExplainLogin(msg, facts); ok {
		return explanation{why: e.Why, fix: e.Fix}
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Kind == auth.KindUnavailable {
		return explanation{why: "Vault did not answer the login", fix: "check Vault's health and the network between the provider and Vault"}
	}
	return audienceExplanation(p, aud)
}

// explainServiceAccountLogin covers kubernetes and jwt logins.
func (d *diagnosis) explainServiceAccountLogin(msg, role string) explanation {
	sub, _ := d.saClaims["sub"].(string)
	aud := d.tokenAudience()
	switch {
	case containsAny(msg, "audience", "aud claim"):
		return explanation{why: fmt.Sprintf("%s does not accept the token's audience %q", role, aud),
			fix: fmt.Sprintf("vault write %s bound_audiences=%s, or set the audience parameter to the role's bound_audiences", role, aud)}
	case containsAny(msg, "bound_subject", "sub claim", "(sub) claim", `claim "sub"`, "subject", "service account name not authorized", "namespace not authorized"):
		return explanation{why: fmt.Sprintf("%s binds another service account than %q", role, sub),
			fix: fmt.Sprintf("vault write %s bound_subject=%s (jwt) or bound_service_account_names/bound_service_account_namespaces (kubernetes)", role, sub)}
	case containsAny(msg, "signature", "issuer", "iss claim"):
		return explanation{why: "Vault could not verify the service-account token: its auth config does not have the cluster's issuer or keys",
			fix: "set jwt_validation_pubkeys or oidc_discovery_url and bound_issuer (jwt), or kubernetes_host and the CA (kubernetes), for this cluster"}
	}
	return explanation{why: fmt.Sprintf("Vault refused the login; compare %s with the token's claims shown above", role)}
}

// audienceExplanation covers the trailing-slash trap: Vault's azure auth
// compares the token's aud with the resource in its config exactly.
func audienceExplanation(p *params.Params, aud string) explanation {
	other := strings.TrimSuffix(aud, "/")
	if other == aud {
		other = aud + "/"
	}
	return explanation{
		why: fmt.Sprintf("Vault refused the token for audience %q: auth/%s/config's resource must equal the token's aud exactly, and a trailing slash counts (%q is not %q); otherwise the config's tenant_id differs from the token's tid",
			aud, p.AuthMountPath, aud, other),
		fix: fmt.Sprintf("vault read auth/%s/config, then set azureResource in the SecretProviderClass to exactly its resource (probably %q)", p.AuthMountPath, other)}
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
