package azure

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// workloadCredential is one ClientAssertionCredential per (tenant, client,
// service account), kept across mounts so azidentity's per-instance token
// cache works. The assertion is the latest token the driver supplied.
type workloadCredential struct {
	cred      *azidentity.ClientAssertionCredential
	assertion atomic.Pointer[string]
}

// workloadToken exchanges the pod's service-account token for an Entra ID
// access token for the configured resource.
func (m *Method) workloadToken(ctx context.Context, req *auth.Request) (string, error) {
	aud := orDefault(req.Audience, DefaultWorkloadAudience)
	assertion, err := req.TokenFor(aud)
	if err != nil {
		return "", err
	}
	tenant, err := m.tenant(req)
	if err != nil {
		return "", err
	}
	wc, err := m.workloadCredentialFor(tenant, req)
	if err != nil {
		return "", err
	}
	wc.assertion.Store(&assertion)
	tok, err := wc.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scopeFor(req.Azure.Resource)}})
	if err != nil {
		return "", azureError(fmt.Sprintf("exchanging the service-account token of %s/%s at Entra ID (tenant %s, clientID %s) for a token for %s",
			req.Pod.Namespace, req.Pod.ServiceAccount, tenant, req.Azure.ClientID, req.Azure.Resource), err)
	}
	return tok.Token, nil
}

func (m *Method) workloadCredentialFor(tenant string, req *auth.Request) (*workloadCredential, error) {
	key := strings.Join([]string{tenant, req.Azure.ClientID, req.Pod.Namespace, req.Pod.ServiceAccount}, "\x00")
	m.mu.Lock()
	defer m.mu.Unlock()
	if wc, ok := m.workload[key]; ok {
		return wc, nil
	}
	wc := &workloadCredential{}
	getAssertion := func(context.Context) (string, error) {
		if a := wc.assertion.Load(); a != nil {
			return *a, nil
		}
		return "", errors.New("no service-account token available")
	}
	opts := &azidentity.ClientAssertionCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: m.cfg.AuthorityHost}, Transport: m.azTrans},
		DisableInstanceDiscovery: !isPublicAuthority(m.cfg.AuthorityHost),
	}
	cred, err := azidentity.NewClientAssertionCredential(tenant, req.Azure.ClientID, getAssertion, opts)
	if err != nil {
		return nil, configError(fmt.Sprintf("creating the workload identity credential for tenant %q, clientID %q: %v", tenant, req.Azure.ClientID, err))
	}
	wc.cred = cred
	m.workload[key] = wc
	return wc, nil
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
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if len(msg) > 800 {
		msg = msg[:800] + "…"
	}
	return &auth.Error{Kind: kind, Err: fmt.Errorf("%s: %s", what, msg)}
}
