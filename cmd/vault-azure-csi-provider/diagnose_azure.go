package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// identityEndpoint is the URL the Azure step depends on, for a reachability
// check: Entra ID's discovery document for the tenant (which also proves the
// tenant exists), IMDS, or aad-pod-identity's NMI.
func (d *diagnosis) identityEndpoint() (name, url string, header http.Header) {
	p := d.prm
	switch p.Azure.Identity {
	case params.IdentityWorkload:
		tenant := firstOf(p.Azure.TenantID, d.mo.TenantID)
		return "Entra ID", strings.TrimSuffix(d.mo.AuthorityHost, "/") + "/" + tenant + "/.well-known/openid-configuration", nil
	case params.IdentityManaged:
		return "IMDS", strings.TrimSuffix(d.mo.IMDSEndpoint, "/") + "/metadata/instance?api-version=2021-02-01", http.Header{"Metadata": {"true"}}
	default:
		return "aad-pod-identity NMI", d.mo.NMIEndpoint, nil
	}
}

func (d *diagnosis) checkReachable(ctx context.Context) bool {
	if d.prm.AuthMethod != params.MethodAzure {
		d.r.skip(stepReachable, d.prm.AuthMethod+" auth needs no Azure endpoint")
		return true
	}
	if d.prm.Azure.Identity == params.IdentityWorkload && firstOf(d.prm.Azure.TenantID, d.mo.TenantID) == "" {
		d.r.fail(stepReachable, nil, explanation{why: "workload identity needs a tenant and none is set",
			fix: "set tenantID in the SecretProviderClass or pass --azure-tenant-id (chart value azure.tenantID)"})
		return false
	}
	name, url, header := d.identityEndpoint()
	status, err := probeHTTP(ctx, url, header)
	if err != nil {
		d.r.fail(stepReachable, err, explanation{
			why: fmt.Sprintf("%s at %s did not answer", name, url),
			fix: reachFix(d.prm.Azure.Identity)})
		return false
	}
	if d.prm.Azure.Identity == params.IdentityWorkload && status == http.StatusBadRequest {
		d.r.fail(stepReachable, nil, explanation{
			why: fmt.Sprintf("Entra ID answered HTTP 400 for the discovery document at %s: the tenant does not exist in this cloud", url),
			fix: "set tenantID (or --azure-tenant-id) to your tenant: az account show --query tenantId -o tsv; for a sovereign cloud set --azure-authority-host"})
		return false
	}
	d.r.ok(stepReachable, fmt.Sprintf("%s at %s answered HTTP %d", name, url, status))
	return true
}

func reachFix(identity string) string {
	switch identity {
	case params.IdentityWorkload:
		return "allow egress from the provider pods to the authority host on 443 (through HTTPS_PROXY if you use one); for a sovereign cloud set --azure-authority-host"
	case params.IdentityManaged:
		return "allow the provider pods to reach 169.254.169.254:80 (keep it in NO_PROXY; no network policy may block it)"
	}
	return "check that aad-pod-identity's NMI runs on the node and that --azure-nmi-endpoint points at it"
}

// probeHTTP GETs url and returns the status code: any answer means reachable.
func probeHTTP(ctx context.Context, url string, header http.Header) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (d *diagnosis) checkAzureToken(ctx context.Context) bool {
	if d.prm.AuthMethod != params.MethodAzure {
		d.r.skip(stepAzure, d.prm.AuthMethod+" auth sends the service-account token itself")
		return true
	}
	data, err := d.w.Azure.LoginData(ctx, d.areq)
	if err != nil {
		d.r.fail(stepAzure, err, d.explainAzure(err))
		return false
	}
	jwt, _ := data["jwt"].(string)
	claims, err := auth.Claims(jwt)
	if err != nil {
		d.r.fail(stepAzure, err, explanation{why: "the Azure access token is not a JWT"})
		return false
	}
	d.azClaims = claims
	d.r.ok(stepAzure, auth.DescribeJWT(jwt))
	return true
}

// explainAzure turns a failure to obtain an Azure token into a reason and a fix.
func (d *diagnosis) explainAzure(err error) explanation {
	msg := err.Error()
	p := d.prm
	iss, _ := d.saClaims["iss"].(string)
	sub, _ := d.saClaims["sub"].(string)
	aud := d.tokenAudience()
	switch {
	case containsAny(msg, "AADSTS700211", "AADSTS700212", "AADSTS700213", "AADSTS70021:"):
		return explanation{
			why: fmt.Sprintf("the identity with clientID %s has no federated credential for issuer %q, subject %q and audience %q: either clientID names another identity, or the federated credential is missing or differs",
				p.Azure.ClientID, iss, sub, aud),
			fix: fmt.Sprintf("az identity federated-credential create -g <resource group> --identity-name <identity> --name %s-%s --issuer %s --subject %s --audiences %s\n(or set clientID to the identity that already has it: az identity show -g <rg> -n <identity> --query clientId)",
				p.Pod.Namespace, p.Pod.ServiceAccount, iss, sub, aud)}
	case strings.Contains(msg, "AADSTS700016"):
		return explanation{why: fmt.Sprintf("no application or managed identity with clientID %s exists in the tenant", p.Azure.ClientID),
			fix: "set clientID to the managed identity's client ID (az identity show --query clientId), and tenantID to its tenant"}
	case strings.Contains(msg, "AADSTS90002"):
		return explanation{why: "Entra ID does not know the tenant", fix: "set tenantID (or --azure-tenant-id) to your tenant ID"}
	case containsAny(msg, "AADSTS700024", "AADSTS50166", "AADSTS5002738"):
		return explanation{why: "Entra ID could not verify the service-account token (expired, or the cluster's OIDC issuer keys are not reachable from Entra)",
			fix: "use a fresh token; check that the AKS OIDC issuer is enabled and its URL is the federated credential's issuer"}
	case strings.Contains(msg, "but azureResource is"):
		return explanation{why: "the token's audience is not azureResource (Vault compares them exactly)",
			fix: "set azureResource to the resource in Vault's auth/" + p.AuthMountPath + "/config"}
	case strings.Contains(msg, "--allow-node-identity-namespaces"):
		return explanation{why: fmt.Sprintf("the node's managed identity is allowed only for namespaces in --allow-node-identity-namespaces, and %q is not one", p.Pod.Namespace),
			fix: "use azureIdentity: workload, or add the namespace: --allow-node-identity-namespaces (chart value azure.allowNodeIdentityNamespaces)"}
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Kind == auth.KindUnavailable {
		return explanation{why: "the Azure identity endpoint did not answer in time or failed", fix: reachFix(p.Azure.Identity)}
	}
	return explanation{why: "the Azure identity could not be turned into an access token"}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
