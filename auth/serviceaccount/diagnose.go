package serviceaccount

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// DiagnosisSteps: the login needs nothing but Vault and the pod's token.
func (Method) DiagnosisSteps() []auth.DiagnosisStep { return nil }

// Describe names the method; it has no parameters of its own.
func (Method) Describe(req *auth.Request) (string, []string) { return req.Method + " auth", nil }

// ExplainLogin explains a refused kubernetes or jwt login from Vault's
// message and the claims of the service-account token sent.
func (m Method) ExplainLogin(d *auth.Diagnosis, err error) auth.DiagnosisFailure {
	msg := err.Error()
	has := func(subs ...string) bool {
		return slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(msg, s) })
	}
	role := fmt.Sprintf("auth/%s/role/%s", d.Request.MountPath, d.Request.Role)
	sub, _ := d.TokenClaims["sub"].(string)
	aud := m.TokenAudience(d.Request)
	switch {
	case has("audience", "aud claim"):
		return auth.DiagnosisFailure{Why: fmt.Sprintf("%s does not accept the token's audience %q", role, aud),
			Fix: fmt.Sprintf("vault write %s bound_audiences=%s, or set the audience parameter to the role's bound_audiences", role, aud)}
	case has("bound_subject", "sub claim", "(sub) claim", `claim "sub"`, "subject", "service account name not authorized", "namespace not authorized"):
		return auth.DiagnosisFailure{Why: fmt.Sprintf("%s binds another service account than %q", role, sub),
			Fix: fmt.Sprintf("vault write %s bound_subject=%s (jwt) or bound_service_account_names/bound_service_account_namespaces (kubernetes)", role, sub)}
	case has("signature", "issuer", "iss claim"):
		return auth.DiagnosisFailure{Why: "Vault could not verify the service-account token: its auth config does not have the cluster's issuer or keys",
			Fix: "set jwt_validation_pubkeys or oidc_discovery_url and bound_issuer (jwt), or kubernetes_host and the CA (kubernetes), for this cluster"}
	}
	return auth.DiagnosisFailure{Why: fmt.Sprintf("Vault refused the login; compare %s with the token's claims shown above", role)}
}
