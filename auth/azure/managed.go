package azure

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// managedToken gets a token for the node's managed identity from IMDS:
// system-assigned, or the user-assigned identity with the given client ID.
func (m *Method) managedToken(ctx context.Context, req *auth.Request) (string, error) {
	cred, err := m.managedCredential(req.Azure.ClientID)
	if err != nil {
		return "", err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scopeFor(req.Azure.Resource)}})
	if err != nil {
		return "", azureError(fmt.Sprintf("getting a token for %s from IMDS for the node's %s managed identity",
			req.Azure.Resource, orDefault(req.Azure.ClientID, "system-assigned")), err)
	}
	return tok.Token, nil
}

func (m *Method) managedCredential(clientID string) (azcore.TokenCredential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.managed[clientID]; ok {
		return c, nil
	}
	opts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: m.azTrans}}
	if clientID != "" {
		opts.ID = azidentity.ClientID(clientID)
	}
	c, err := azidentity.NewManagedIdentityCredential(opts)
	if err != nil {
		return nil, configError(fmt.Sprintf("creating the managed identity credential (clientID %q): %v", clientID, err))
	}
	m.managed[clientID] = c
	return c, nil
}
