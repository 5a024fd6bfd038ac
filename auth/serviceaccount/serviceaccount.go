// Package serviceaccount logs in to Vault's kubernetes or jwt auth method
// with the pod's own service-account token, as supplied by the CSI driver.
package serviceaccount

import (
	"context"
	"fmt"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// DefaultAudience is the token audience used when the SecretProviderClass sets
// no audience and the driver supplied more than one token.
const DefaultAudience = "vault"

// Method implements auth.Method for kubernetes and jwt auth.
type Method struct{}

// ParameterNames: the method has no parameters of its own (audience and
// the mount path are every method's).
func (Method) ParameterNames() []string { return nil }

// ParseParameters: the method has no parameters of its own.
func (Method) ParseParameters(map[string]string) (any, error) { return nil, nil }

// TokenAudience picks the token audience: the SecretProviderClass's, else
// the only token the driver supplied, else DefaultAudience.
func (Method) TokenAudience(req *auth.Request) string {
	if req.Audience != "" {
		return req.Audience
	}
	if len(req.Tokens) == 1 {
		for aud := range req.Tokens {
			return aud
		}
	}
	return DefaultAudience
}

// Principal names the pod's service account.
func (Method) Principal(req *auth.Request) (string, error) {
	if req.Pod.Namespace == "" || req.Pod.ServiceAccount == "" {
		return "", &auth.Error{Kind: auth.KindConfig, Err: fmt.Errorf(
			"the mount request has no pod namespace or service account name: is the provider called by the Secrets Store CSI Driver with podInfoOnMount?")}
	}
	aud, err := audience(req)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("serviceaccount:%s/%s (audience %s)", req.Pod.Namespace, req.Pod.ServiceAccount, aud), nil
}

// Check verifies the pod's service-account token locally (Request.TokenFor).
func (Method) Check(req *auth.Request) error {
	aud, err := audience(req)
	if err != nil {
		return err
	}
	_, err = req.TokenFor(aud)
	return err
}

// LoginData returns {role, jwt}.
func (Method) LoginData(_ context.Context, req *auth.Request) (map[string]any, error) {
	aud, err := audience(req)
	if err != nil {
		return nil, err
	}
	token, err := req.TokenFor(aud)
	if err != nil {
		return nil, err
	}
	return map[string]any{"role": req.Role, "jwt": token}, nil
}

// audience is TokenAudience, or an error when the driver supplied no token.
func audience(req *auth.Request) (string, error) {
	if req.Audience == "" && len(req.Tokens) == 0 {
		return "", &auth.Error{Kind: auth.KindCredential, Err: fmt.Errorf(
			"the driver supplied no service-account token: add tokenRequests (e.g. {audience: %q}) to the secrets-store.csi.k8s.io CSIDriver and set the audience parameter to match", DefaultAudience)}
	}
	return Method{}.TokenAudience(req), nil
}
