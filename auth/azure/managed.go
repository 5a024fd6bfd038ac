package azure

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// managedToken gets a token for the node's managed identity from IMDS:
// system-assigned, or the user-assigned identity with the given client ID.
// The manager asks only when it logs in to Vault, and then wants a token
// from IMDS itself, not from the copy MSAL keeps process-wide: a removed
// identity must be noticed at the next login. MSAL skips its cache when
// claims are requested; the claims asked for are those of a token issued
// from now on (Entra's form for that; IMDS does not receive them).
func (m *Method) managedToken(ctx context.Context, req *auth.Request) (string, error) {
	cred, err := m.managedCredential(paramsOf(req).ClientID)
	if err != nil {
		return "", err
	}
	notBefore := fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix())
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scopeFor(paramsOf(req).Resource)}, Claims: notBefore})
	if err != nil {
		return "", azureError(fmt.Sprintf("getting a token for %s from IMDS for the node's %s managed identity",
			paramsOf(req).Resource, cmp.Or(paramsOf(req).ClientID, "system-assigned")), err)
	}
	return tok.Token, nil
}

// managedCredential returns a new credential: none is kept between logins.
func (m *Method) managedCredential(clientID string) (azcore.TokenCredential, error) {
	opts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: m.azTrans}}
	if clientID != "" {
		opts.ID = azidentity.ClientID(clientID)
	}
	c, err := azidentity.NewManagedIdentityCredential(opts)
	if err != nil {
		return nil, configError(fmt.Sprintf("creating the managed identity credential (clientID %q): %v", clientID, err))
	}
	return c, nil
}
