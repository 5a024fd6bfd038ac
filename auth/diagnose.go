package auth

import "context"

// Diagnoser is implemented by methods that help the mount command
// (cmd/vault-azure-csi-provider) explain a failing mount.
type Diagnoser interface {
	// DiagnosisSteps are what the login depends on besides Vault and the
	// pod's service-account token (azure: an identity endpoint and an
	// access token; none for others). The command runs them, in order,
	// after checking the service-account token and before Vault, and stops
	// at the first that fails.
	DiagnosisSteps() []DiagnosisStep
	// Describe names the login, e.g. "azure auth with workload identity",
	// and the parameters worth showing with it.
	Describe(req *Request) (login string, parameters []string)
	// ExplainLogin says why Vault refused the login with err, and how to
	// fix it, from what d holds.
	ExplainLogin(d *Diagnosis, err error) DiagnosisFailure
}

// DiagnosisStep is one check of a Diagnoser.
type DiagnosisStep struct {
	Title string
	// NotUsed completes "<other method> auth …" to say why a login with
	// another method skips the step.
	NotUsed string
	// Run checks the step for d.Request: a detail to show when it passed,
	// or why it failed.
	Run func(ctx context.Context, d *Diagnosis) (detail string, failure *DiagnosisFailure)
}

// Diagnosis is what the mount command knows when the steps run, and what
// they found.
type Diagnosis struct {
	Request *Request
	// TokenClaims are the claims of the pod's service-account token the
	// login presents (nil: none).
	TokenClaims map[string]any
	// CredentialClaims are set by a step: the claims of the credential the
	// login sends Vault (e.g. the Azure access token), to explain Vault's answer.
	CredentialClaims map[string]any
}

// DiagnosisFailure is a failed step: the error as the provider would report
// it (nil: none), why it failed and how to fix it.
type DiagnosisFailure struct {
	Err error
	Why string
	Fix string
}
