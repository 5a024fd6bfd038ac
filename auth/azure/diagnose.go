package azure

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// DiagnosisSteps are the checks between the pod's service-account token
// and Vault: the identity endpoint answers, and it gives an access token.
func (m *Method) DiagnosisSteps() []auth.DiagnosisStep {
	return []auth.DiagnosisStep{
		{Title: "Azure identity endpoint reachable", NotUsed: "needs no Azure endpoint", Run: m.checkReachable},
		{Title: "Azure token obtained", NotUsed: "sends the service-account token itself", Run: m.checkToken},
	}
}

// Describe names the identity and shows the parameters that choose it.
func (m *Method) Describe(req *auth.Request) (string, []string) {
	a := paramsOf(req)
	login := map[string]string{
		IdentityWorkload:    "azure auth with workload identity",
		IdentityBinding:     "azure auth with an AKS identity binding (token proxy " + m.proxy.base.Redacted() + ")",
		IdentityManaged:     "azure auth with the node's managed identity",
		IdentityPodIdentity: "azure auth with aad-pod-identity",
	}[a.Identity]
	var parts []string
	if a.ClientID != "" {
		parts = append(parts, "clientID "+a.ClientID)
	}
	if t := cmp.Or(a.TenantID, m.cfg.DefaultTenantID); t != "" && (a.Identity == IdentityWorkload || a.Identity == IdentityBinding) {
		parts = append(parts, "tenant "+t)
	}
	return login, append(parts, "azureResource "+a.Resource)
}

// ExplainLogin explains Vault's refusal from its message and the claims of
// the Azure access token sent (ExplainLogin of a message), else points at
// the trailing-slash trap.
func (m *Method) ExplainLogin(d *auth.Diagnosis, err error) auth.DiagnosisFailure {
	req := d.Request
	aud, _ := d.CredentialClaims["aud"].(string)
	tid, _ := d.CredentialClaims["tid"].(string)
	facts := LoginFacts{MountPath: req.MountPath, Role: req.Role, Resource: cmp.Or(aud, paramsOf(req).Resource), TokenTenant: tid}
	facts.MIRID, _ = d.CredentialClaims["xms_mirid"].(string)
	facts.AzRID, _ = d.CredentialClaims["xms_az_rid"].(string)
	if e, ok := ExplainLogin(err.Error(), facts); ok {
		return auth.DiagnosisFailure{Why: e.Why, Fix: e.Fix}
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Kind == auth.KindUnavailable {
		return auth.DiagnosisFailure{Why: "Vault did not answer the login", Fix: "check Vault's health and the network between the provider and Vault"}
	}
	// The trailing-slash trap: Vault's azure auth compares the token's aud
	// with the resource in its config exactly.
	other := strings.TrimSuffix(aud, "/")
	if other == aud {
		other = aud + "/"
	}
	return auth.DiagnosisFailure{
		Why: fmt.Sprintf("Vault refused the token for audience %q: auth/%s/config's resource must equal the token's aud exactly, and a trailing slash counts (%q is not %q); otherwise the config's tenant_id differs from the token's tid",
			aud, req.MountPath, aud, other),
		Fix: fmt.Sprintf("vault read auth/%s/config, then set azureResource in the SecretProviderClass to exactly its resource (probably %q)", req.MountPath, other)}
}

// identityEndpoint is the URL the Azure step depends on, for a reachability
// check: Entra ID's discovery document for the tenant (which also proves the
// tenant exists), IMDS, or aad-pod-identity's NMI.
func (m *Method) identityEndpoint(req *auth.Request) (name, url string, header http.Header) {
	a := paramsOf(req)
	switch a.Identity {
	case IdentityWorkload: // an identity binding's endpoint is the token proxy (checkProxy)
		tenant := cmp.Or(a.TenantID, m.cfg.DefaultTenantID)
		return "Entra ID", strings.TrimSuffix(m.cfg.AuthorityHost, "/") + "/" + tenant + "/.well-known/openid-configuration", nil
	case IdentityManaged:
		return "IMDS", strings.TrimSuffix(m.cfg.IMDSEndpoint, "/") + "/metadata/instance?api-version=2021-02-01", http.Header{"Metadata": {"true"}}
	default:
		return "aad-pod-identity NMI", m.cfg.NMIEndpoint, nil
	}
}

func (m *Method) checkReachable(ctx context.Context, d *auth.Diagnosis) (string, *auth.DiagnosisFailure) {
	a := paramsOf(d.Request)
	if (a.Identity == IdentityWorkload || a.Identity == IdentityBinding) && cmp.Or(a.TenantID, m.cfg.DefaultTenantID) == "" {
		return "", &auth.DiagnosisFailure{Why: a.Identity + " needs a tenant and none is set",
			Fix: "set tenantID in the SecretProviderClass or pass --azure-tenant-id (chart value azure.tenantID)"}
	}
	if a.Identity == IdentityBinding {
		return m.checkProxy(ctx, d.Request)
	}
	name, url, header := m.identityEndpoint(d.Request)
	status, err := probeHTTP(ctx, url, header)
	if err != nil {
		return "", &auth.DiagnosisFailure{Err: err, Why: fmt.Sprintf("%s at %s did not answer", name, url), Fix: reachFix(a.Identity)}
	}
	if a.Identity == IdentityWorkload && status == http.StatusBadRequest {
		return "", &auth.DiagnosisFailure{
			Why: fmt.Sprintf("Entra ID answered HTTP 400 for the discovery document at %s: the tenant does not exist in this cloud", url),
			Fix: "set tenantID (or --azure-tenant-id) to your tenant: az account show --query tenantId -o tsv; for a sovereign cloud set --azure-authority-host"}
	}
	return fmt.Sprintf("%s at %s answered HTTP %d", name, url, status), nil
}

// checkProxy asks the AKS token proxy for the tenant's discovery document,
// as the exchange will: the cluster CA, the server name (derived from the
// cluster id unless set), and that it is the proxy answering, not the API
// server.
func (m *Method) checkProxy(ctx context.Context, req *auth.Request) (string, *auth.DiagnosisFailure) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	tenant, _ := m.tenant(req)
	url := strings.TrimSuffix(m.cfg.AuthorityHost, "/") + "/" + tenant + "/v2.0/.well-known/openid-configuration"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", &auth.DiagnosisFailure{Err: err, Why: "the discovery request could not be built"}
	}
	where := fmt.Sprintf("the AKS token proxy at %s (TLS name %s, CA %s)", m.proxy.base.Redacted(), cmp.Or(m.proxy.cfg.ServerName, "derived"), m.proxy.cfg.CAFile)
	resp, err := m.proxy.Do(hreq)
	if err != nil {
		ferr := m.bindingError(req, tenant, err)
		return "", &auth.DiagnosisFailure{Err: ferr, Why: where + " could not be reached", Fix: reachFix(IdentityBinding)}
	}
	resp.Body.Close()
	name := m.proxy.currentName()
	switch resp.StatusCode {
	case http.StatusOK:
		return fmt.Sprintf("%s answered as %s", where, name), nil
	case http.StatusNotFound:
		return "", &auth.DiagnosisFailure{Why: fmt.Sprintf("%s answered 404 as %s: the API server itself, not its token proxy", where, name),
			Fix: "leave --azure-token-proxy-server-name empty to derive the proxy's name from the cluster id, and check that identity bindings are enabled on the cluster"}
	}
	return fmt.Sprintf("%s answered HTTP %d as %s", where, resp.StatusCode, name), nil
}

func reachFix(identity string) string {
	switch identity {
	case IdentityBinding:
		return "the provider reaches the token proxy at the cluster's API server (--azure-token-proxy-url, default " + DefaultTokenProxyURL +
			"): allow egress to it on 443, give it the cluster CA (--azure-token-proxy-ca-file; the chart mounts the service-account CA), and leave --azure-token-proxy-server-name empty unless AKS says otherwise"
	case IdentityWorkload:
		return "allow egress from the provider pods to the authority host on 443 (through HTTPS_PROXY if you use one); for a sovereign cloud set --azure-authority-host"
	case IdentityManaged:
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

func (m *Method) checkToken(ctx context.Context, d *auth.Diagnosis) (string, *auth.DiagnosisFailure) {
	data, err := m.LoginData(ctx, d.Request)
	if err != nil {
		f := m.explainToken(d.Request, d.TokenClaims, err)
		return "", &f
	}
	jwt, _ := data["jwt"].(string)
	claims, err := auth.Claims(jwt)
	if err != nil {
		return "", &auth.DiagnosisFailure{Err: err, Why: "the Azure access token is not a JWT"}
	}
	d.CredentialClaims = claims
	return auth.DescribeJWT(jwt), nil
}

// explainToken turns a failure to obtain an Azure token into a reason and
// a fix; saClaims are those of the service-account token presented.
func (m *Method) explainToken(req *auth.Request, saClaims map[string]any, err error) auth.DiagnosisFailure {
	msg := err.Error()
	has := func(subs ...string) bool {
		return slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(msg, s) })
	}
	a := paramsOf(req)
	iss, _ := saClaims["iss"].(string)
	sub, _ := saClaims["sub"].(string)
	aud := m.TokenAudience(req)
	f := auth.DiagnosisFailure{Err: err}
	switch {
	case has("use-managed-identity"):
		f.Why = fmt.Sprintf("the AKS token proxy refused: Kubernetes RBAC does not let system:serviceaccount:%s:%s use-managed-identity on cid.wi.aks.azure.com/%s",
			req.Pod.Namespace, req.Pod.ServiceAccount, a.ClientID)
		f.Fix = fmt.Sprintf("kubectl create clusterrole use-%s --verb=use-managed-identity --resource=%s.cid.wi.aks.azure.com\n"+
			"kubectl create clusterrolebinding use-%s-%s-%s --clusterrole=use-%s --serviceaccount=%s:%s",
			a.ClientID, a.ClientID, a.ClientID, req.Pod.Namespace, req.Pod.ServiceAccount, a.ClientID, req.Pod.Namespace, req.Pod.ServiceAccount)
	case a.Identity == IdentityBinding && has("AADSTS700211", "AADSTS700213"):
		f.Why = fmt.Sprintf("Entra ID has no federated credential for the identity bindings of managed identity %s: it is not bound to this cluster", a.ClientID)
		f.Fix = "az aks identity-binding create -g <cluster resource group> --cluster-name <cluster> -n <binding> --managed-identity-resource-id <identity resource id>"
	case has("not its token proxy", "--azure-token-proxy-server-name", "--azure-token-proxy-ca-file", "--azure-token-proxy-url"):
		f.Why = "the AKS token proxy could not be used as configured"
		f.Fix = reachFix(IdentityBinding)
	case has("AADSTS700211", "AADSTS700212", "AADSTS700213", "AADSTS70021:"):
		f.Why = fmt.Sprintf("the identity with clientID %s has no federated credential for issuer %q, subject %q and audience %q: either clientID names another identity, or the federated credential is missing or differs",
			a.ClientID, iss, sub, aud)
		f.Fix = fmt.Sprintf("az identity federated-credential create -g <resource group> --identity-name <identity> --name %s-%s --issuer %s --subject %s --audiences %s\n(or set clientID to the identity that already has it: az identity show -g <rg> -n <identity> --query clientId)",
			req.Pod.Namespace, req.Pod.ServiceAccount, iss, sub, aud)
	case has("AADSTS700016"):
		f.Why = fmt.Sprintf("no application or managed identity with clientID %s exists in the tenant", a.ClientID)
		f.Fix = "set clientID to the managed identity's client ID (az identity show --query clientId), and tenantID to its tenant"
	case has("AADSTS90002"):
		f.Why, f.Fix = "Entra ID does not know the tenant", "set tenantID (or --azure-tenant-id) to your tenant ID"
	case has("AADSTS700024", "AADSTS50166", "AADSTS5002738"):
		f.Why = "Entra ID could not verify the service-account token (expired, or the cluster's OIDC issuer keys are not reachable from Entra)"
		f.Fix = "use a fresh token; check that the AKS OIDC issuer is enabled and its URL is the federated credential's issuer"
	case has("but azureResource is"):
		f.Why = "the token's audience is not azureResource (Vault compares them exactly)"
		f.Fix = "set azureResource to the resource in Vault's auth/" + req.MountPath + "/config"
	case has("namespaces in --allow-node-identity"):
		f.Why = fmt.Sprintf("the node's managed identity is allowed only for namespaces in --allow-node-identity, and %q is not one", req.Pod.Namespace)
		f.Fix = "use azureIdentity: workload, or add a rule <namespace>:<clientID>: --allow-node-identity (chart value azure.nodeIdentities)"
	case has("(--allow-node-identity), not"):
		f.Why = "the namespace may present other node identities than this clientID"
		f.Fix = "set clientID to an identity the namespace may use, or add a rule: --allow-node-identity (chart value azure.nodeIdentities)"
	case has("Vault addresses the provider trusts"):
		f.Why = "the node's identity is presented only to the provider's --vault-addr or its --allowed-vault-addresses"
		f.Fix = "leave vaultAddress unset, or add it to --allowed-vault-addresses (chart value vault.allowedAddresses)"
	default:
		var ae *auth.Error
		if errors.As(err, &ae) && ae.Kind == auth.KindUnavailable {
			f.Why, f.Fix = "the Azure identity endpoint did not answer in time or failed", reachFix(a.Identity)
		} else {
			f.Why = "the Azure identity could not be turned into an access token"
		}
	}
	return f
}
