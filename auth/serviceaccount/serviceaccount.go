// Package serviceaccount logs in to Vault's kubernetes or jwt auth method
// with the pod's own service-account token, as supplied by the CSI driver.
package serviceaccount

import (
	"context"
	"fmt"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// DefaultAudience is the token audience used when the SecretProviderClass
// sets none, as in HashiCorp's provider. It is never "whatever token the
// driver supplied": that may be the pod's api://AzureADTokenExchange token,
// which Entra ID exchanges for the pod's Azure identity, and the class
// chooses where the token is sent.
const DefaultAudience = "vault"

// Method implements auth.Method for kubernetes and jwt auth.
type Method struct {
	// PerPod: the Vault token of a login is shared only by the pod that
	// obtained it, not by its service account: a jwt role may bind
	// per-pod claims of the projected token (bound_claims on the pod name),
	// which another pod of the service account would not have.
	PerPod bool
}

// ParameterNames: the method has no parameters of its own (audience and
// the mount path are every method's).
func (Method) ParameterNames() []string { return nil }

// ParseParameters: the method has no parameters of its own.
func (Method) ParseParameters(map[string]string) (any, error) { return nil, nil }

// TokenAudience is the SecretProviderClass's audience, else DefaultAudience.
func (Method) TokenAudience(req *auth.Request) string {
	if req.Audience != "" {
		return req.Audience
	}
	return DefaultAudience
}

// Principal names the pod's service account (and the pod, with PerPod).
func (m Method) Principal(req *auth.Request) (string, error) {
	if req.Pod.Namespace == "" || req.Pod.ServiceAccount == "" {
		return "", &auth.Error{Kind: auth.KindConfig, Err: fmt.Errorf(
			"the mount request has no pod namespace or service account name: is the provider called by the Secrets Store CSI Driver with podInfoOnMount?")}
	}
	p := fmt.Sprintf("serviceaccount:%s/%s (audience %s)", req.Pod.Namespace, req.Pod.ServiceAccount, m.TokenAudience(req))
	if m.PerPod {
		p += " pod " + req.Pod.Name + " " + req.Pod.UID
	}
	return p, nil
}

// ProvenByToken: kubernetes and jwt logins present the service account's
// own token, which Vault verifies.
func (Method) ProvenByToken(*auth.Request) (bool, string) { return true, "" }

// Check verifies the pod's service-account token locally (Request.TokenFor).
func (m Method) Check(req *auth.Request) error {
	_, err := req.TokenFor(m.TokenAudience(req))
	return err
}

// LoginData returns {role, jwt}.
func (m Method) LoginData(_ context.Context, req *auth.Request) (map[string]any, error) {
	token, err := req.TokenFor(m.TokenAudience(req))
	if err != nil {
		return nil, err
	}
	return map[string]any{"role": req.Role, "jwt": token}, nil
}
