package azure

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
)

// workloadToken exchanges the pod's service-account token for an Entra ID
// access token for the configured resource. It uses a new credential each
// time: the manager asks only when it logs in to Vault, and a token from
// azidentity's per-credential cache would skip Entra's check of the
// federated credential, so a removed one would go unnoticed until that
// token expired. No credential is kept between logins.
func (m *Method) workloadToken(ctx context.Context, req *auth.Request) (string, error) {
	opts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: m.cfg.AuthorityHost}, Transport: m.azTrans}
	cred, tenant, err := m.assertionCredential(req, opts, !isPublicAuthority(m.cfg.AuthorityHost))
	if err != nil {
		return "", err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scopeFor(paramsOf(req).Resource)}})
	if err != nil {
		return "", azureError(fmt.Sprintf("exchanging the service-account token of %s/%s at Entra ID (tenant %s, clientID %s) for a token for %s",
			req.Pod.Namespace, req.Pod.ServiceAccount, tenant, paramsOf(req).ClientID, paramsOf(req).Resource), err)
	}
	return tok.Token, nil
}

// assertionCredential is a new credential that presents the pod's
// service-account token (for the identity's audience) as client
// assertion, through opts, and the tenant it asks.
func (m *Method) assertionCredential(req *auth.Request, opts azcore.ClientOptions, noDiscovery bool) (*azidentity.ClientAssertionCredential, string, error) {
	assertion, err := req.TokenFor(m.TokenAudience(req))
	if err != nil {
		return nil, "", err
	}
	tenant, err := m.tenant(req)
	if err != nil {
		return nil, "", err
	}
	getAssertion := func(context.Context) (string, error) { return assertion, nil }
	cred, err := azidentity.NewClientAssertionCredential(tenant, paramsOf(req).ClientID, getAssertion,
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
	if err != nil {
		return nil, "", configError(fmt.Sprintf("creating the %s credential for tenant %q, clientID %q: %v", paramsOf(req).Identity, tenant, paramsOf(req).ClientID, err))
	}
	return cred, tenant, nil
}

// isPublicAuthority reports whether host is a known Azure cloud's authority,
// for which Entra instance discovery works. It compares the URL's host name
// exactly: "https://login.microsoftonline.com.example/" is not one.
func isPublicAuthority(host string) bool {
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Hostname()) {
	case "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn":
		return true
	}
	return false
}

// azureError wraps an azidentity failure with what was attempted, keeping
// Entra's explanation (AADSTS code and description) on one line.
func azureError(what string, err error) error {
	kind := auth.KindCredential
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) {
		kind = auth.KindUnavailable
	}
	return &auth.Error{Kind: kind, Err: fmt.Errorf("%s: %s", what, retry.OneLine(err.Error()))}
}
