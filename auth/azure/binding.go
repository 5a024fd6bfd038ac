package azure

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
)

// bindingToken exchanges the pod's service-account token (audience
// api://AKSIdentityBinding) at the AKS token proxy for the managed
// identity's Entra token. The proxy checks the token, then Kubernetes RBAC
// (use-managed-identity on cid.wi.aks.azure.com/<clientID>), then presents
// the identity binding's federated credential to Entra ID. As for workload
// identity, no credential is kept between logins.
func (m *Method) bindingToken(ctx context.Context, req *auth.Request) (string, error) {
	// Instance discovery would ask the public cloud, not the proxy.
	opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: m.cfg.AuthorityHost}, Transport: m.proxy}
	cred, tenant, err := m.assertionCredential(req, opts, true)
	if err != nil {
		return "", err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scopeFor(paramsOf(req).Resource)}})
	if err != nil {
		return "", m.bindingError(req, tenant, err)
	}
	return tok.Token, nil
}

// bindingError says which part of an identity binding refused: the proxy's
// TLS name or CA, its RBAC check, its check of the token, or Entra ID.
func (m *Method) bindingError(req *auth.Request, tenant string, err error) error {
	a, pod := paramsOf(req), req.Pod
	what := fmt.Sprintf("exchanging the %s token of %s/%s at the AKS token proxy %s for managed identity %s (tenant %s)",
		IdentityBindingAudience, pod.Namespace, pod.ServiceAccount, m.proxy.base.Redacted(), a.ClientID, tenant)
	var ae *auth.Error
	if errors.As(err, &ae) { // the proxy's own setting (CA file, server name)
		return &auth.Error{Kind: ae.Kind, Err: fmt.Errorf("%s: %w", what, ae.Err)}
	}
	var host x509.HostnameError
	var unknown x509.UnknownAuthorityError
	switch msg := retry.OneLine(err.Error()); {
	case errors.As(err, &host) || strings.Contains(msg, "certificate is valid for"):
		return configError(fmt.Sprintf("%s: the proxy's certificate does not cover the TLS server name %s (%s): "+
			"leave --azure-token-proxy-server-name empty to derive it from the cluster id, or set it to the name AKS gives this cluster's proxy (a<…>.ests.aks)",
			what, m.proxy.currentName(), msg))
	case errors.As(err, &unknown) || strings.Contains(msg, "certificate signed by unknown authority"):
		return configError(fmt.Sprintf("%s: the proxy's certificate is not signed by the CA in %s (%s): set --azure-token-proxy-ca-file to the cluster CA",
			what, m.proxy.cfg.CAFile, msg))
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		switch afe.RawResponse.StatusCode {
		case http.StatusForbidden:
			return &auth.Error{Kind: auth.KindCredential, Err: fmt.Errorf(
				"%s: the proxy refused (403): Kubernetes RBAC must let system:serviceaccount:%s:%s use the identity — "+
					"a ClusterRole with verbs [use-managed-identity], apiGroups [cid.wi.aks.azure.com], resources [%s], bound to that service account "+
					"(and an identity binding of the identity to this cluster: az aks identity-binding create): %s",
				what, pod.Namespace, pod.ServiceAccount, a.ClientID, retry.OneLine(err.Error()))}
		case http.StatusUnauthorized:
			if strings.Contains(err.Error(), "AADSTS700211") || strings.Contains(err.Error(), "AADSTS700213") {
				return &auth.Error{Kind: auth.KindCredential, Err: fmt.Errorf(
					"%s: Entra ID has no federated credential of the identity for this cluster's identity bindings: "+
						"bind the identity to the cluster (az aks identity-binding create --managed-identity-resource-id <identity of client %s>), then retry: %s",
					what, a.ClientID, retry.OneLine(err.Error()))}
			}
			if !strings.Contains(err.Error(), "AADSTS") {
				return &auth.Error{Kind: auth.KindCredential, Err: fmt.Errorf(
					"%s: the proxy refused the service-account token (401): the CSIDriver's tokenRequests must include audience %s and the token must be the pod's own: %s",
					what, IdentityBindingAudience, retry.OneLine(err.Error()))}
			}
		case http.StatusNotFound:
			return configError(fmt.Sprintf("%s: the server reached as %s serves no token endpoint (404): it is the API server itself, not its token proxy; "+
				"leave --azure-token-proxy-server-name empty to derive the proxy's name, and check --azure-token-proxy-url and that identity bindings are enabled on the cluster: %s",
				what, m.proxy.currentName(), retry.OneLine(err.Error())))
		}
	}
	return azureError(what, err)
}

// currentName is the server name in use (configured or derived), for errors.
func (p *tokenProxy) currentName() string {
	if p.cfg.ServerName != "" {
		return p.cfg.ServerName
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name != "" {
		return p.name + " (derived from the cluster id)"
	}
	return "(not derived)"
}
