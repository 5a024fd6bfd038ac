package auth

import "context"

// Diagnoser is implemented by methods whose login depends on more than
// Vault and the pod's service-account token (the azure method: an identity
// endpoint and an access token). The mount command runs its steps, in
// order, after checking the service-account token and before Vault, and
// stops at the first that fails.
type Diagnoser interface {
	DiagnosisSteps() []DiagnosisStep
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
