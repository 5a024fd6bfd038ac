// Package auth logs in to Vault as the identity of the pod whose volume is
// being mounted, and caches the resulting Vault tokens per identity.
//
// It owns what every login shares: the login Request, the Method interface
// that each auth method implements (its SecretProviderClass parameters, its
// principal, its credential check and its login body), the Manager with its
// token cache, and the errors of logins. Methods live in sub-packages
// (auth/azure, auth/serviceaccount) and are listed in auth/methods. This
// package has no gRPC dependency and no Azure SDK dependency; the provider
// depends on it, never the reverse.
package auth

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
)

// Auth method names, as in the vaultAuthMethod parameter. Each is also the
// method's default mount path, as with vault auth enable.
const (
	MethodAzure      = "azure"
	MethodKubernetes = "kubernetes"
	MethodJWT        = "jwt"
)

// Pod identifies the pod that asked for the mount. The kubelet supplies these
// values, so they can be trusted to name the caller.
type Pod struct {
	Namespace string
	Name      string
	// UID tells apart two pods of the same name over time: the provider
	// keeps a pod's dynamic secrets under it (provider/keep.go).
	UID            string
	ServiceAccount string
}

// ServiceAccountToken is a token the driver requested for the pod.
type ServiceAccountToken struct {
	Token   string
	Expires time.Time // zero: unknown
}

// Request describes one login: where, as which role, and who.
type Request struct {
	VaultAddress   string
	VaultNamespace string
	// Connection identifies the TLS settings used to reach Vault: a token is
	// only reused over the same kind of connection it was obtained on.
	Connection string
	Method     string
	MountPath  string
	Role       string
	// Audience of the service-account token to use; empty means the method's default.
	Audience string
	// Params are the method's own parameters, as its ParseParameters
	// returned them (e.g. azure.Params); nil: the method has none.
	Params any
	Pod    Pod
	// Tokens maps audience to the pod's service-account tokens.
	Tokens map[string]ServiceAccountToken
}

// Method is one way of logging in to Vault. A new method is a package that
// implements it plus one line in auth/methods' table.
type Method interface {
	// ParameterNames are the SecretProviderClass parameters the method owns.
	// A SecretProviderClass without vaultAuthMethod that sets any of them
	// selects the method.
	ParameterNames() []string
	// ParseParameters validates the method's own parameters in the
	// SecretProviderClass's attributes and returns them, defaults filled
	// in, for Request.Params. Errors are *ParameterError.
	ParseParameters(attrs map[string]string) (any, error)
	// TokenAudience is the audience of the pod's service-account token the
	// login presents, or "" when it presents none.
	TokenAudience(req *Request) string
	// Principal names the identity that logs in, without any secret. It is
	// part of the token cache key, and it refuses identities the pod may not use.
	Principal(req *Request) (string, error)
	// Check verifies locally, without network, that req carries the
	// credential this method logs in with: the driver's service-account
	// token for the audience it needs, not expired, of the pod's service
	// account (see Request.TokenFor). The Manager calls it on every Mount,
	// with a token cached or not, and LoginData fails the same way.
	Check(req *Request) error
	// LoginData returns the JSON body for POST auth/<mount>/login.
	LoginData(ctx context.Context, req *Request) (map[string]any, error)
}

// Registration names a Method as the vaultAuthMethod parameter does.
type Registration struct {
	Name   string
	Method Method
}

// Methods are the auth methods a provider offers, by name.
type Methods map[string]Method

// NewMethods returns the registered methods; a name registered twice is an error.
func NewMethods(regs ...Registration) (Methods, error) {
	ms := Methods{}
	for _, r := range regs {
		if _, dup := ms[r.Name]; dup || r.Method == nil {
			return nil, fmt.Errorf("auth method %q registered twice or without a method", r.Name)
		}
		ms[r.Name] = r.Method
	}
	return ms, nil
}

// Names returns the method names, sorted.
func (ms Methods) Names() []string {
	names := make([]string, 0, len(ms))
	for n := range ms {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TokenProven is implemented by methods that can tell whether a login's
// identity is the one proven by the request's service-account token (the
// workload's own), as opposed to one the provider's host lends it (the
// node's managed identity, an aad-pod-identity binding found by pod name).
// Where one provider serves many workloads from one pod (the Secrets Store
// Sync Controller's sidecar), only token-proven identities name the
// workload; a method that does not implement it is treated as not proven.
type TokenProven interface {
	// ProvenByToken reports whether req's identity is proven by its
	// service-account token; if not, lent describes the identity it would
	// log in as instead, for the refusal.
	ProvenByToken(req *Request) (proven bool, lent string)
}

// RefusalExplainer is implemented by methods that can say, from Vault's
// message, why Vault refused their login and how to fix it.
type RefusalExplainer interface {
	ExplainRefusal(req *Request, vaultMessage string, sent map[string]any) string
}

// TokenFor returns the pod's service-account token for audience, or an error
// that says how to make the driver supply it. It checks, without network,
// that the driver supplied one, that it has not expired (the driver's
// expirationTimestamp and the token's exp), and that it is a token of the
// pod's own service account (sub system:serviceaccount:<ns>:<sa>). The
// claims are read without verifying the signature: that is the job of
// Entra ID or Vault; this only refuses early, never grants.
func (r *Request) TokenFor(audience string) (string, error) {
	t, ok := r.Tokens[audience]
	if !ok {
		have := make([]string, 0, len(r.Tokens))
		for a := range r.Tokens {
			have = append(have, a)
		}
		slices.Sort(have) // a stable message: Kubernetes aggregates events by message
		return "", &Error{Kind: KindCredential, Err: fmt.Errorf(
			"the driver supplied no service-account token for audience %q (it supplied %d: %q): add {audience: %q} to tokenRequests of the secrets-store.csi.k8s.io CSIDriver, "+
				"or, where the driver's CSIDriver is not yours to change (AKS's azure-keyvault-secrets-provider add-on passes api://AzureADTokenExchange only), log in with azure auth (workload identity)",
			audience, len(have), have, audience)}
	}
	if err := checkExpiry(audience, t.Expires); err != nil {
		return "", err
	}
	facts, err := factsOf(t.Token)
	if err != nil {
		return "", &Error{Kind: KindCredential, Err: fmt.Errorf(
			"the service-account token for audience %q is not a service-account JWT (%v): the driver passes the tokens kubelet requests for tokenRequests of the secrets-store.csi.k8s.io CSIDriver", audience, err)}
	}
	if !facts.exp.IsZero() {
		if err := checkExpiry(audience, facts.exp); err != nil {
			return "", err
		}
	}
	want := "system:serviceaccount:" + r.Pod.Namespace + ":" + r.Pod.ServiceAccount
	if sub := facts.sub; sub != want {
		return "", &Error{Kind: KindCredential, Err: fmt.Errorf(
			"the service-account token for audience %q has subject %q, not the pod's service account %q: the driver must pass the pod's own token (tokenRequests of the secrets-store.csi.k8s.io CSIDriver)",
			audience, retry.OneLine(sub), want)}
	}
	return t.Token, nil
}

// checkExpiry refuses a service-account token that expired at expires
// (zero: unknown).
func checkExpiry(audience string, expires time.Time) error {
	if expires.IsZero() || time.Now().Before(expires) {
		return nil
	}
	return &Error{Kind: KindCredential, Err: fmt.Errorf(
		"the service-account token for audience %q expired at %s: set requiresRepublish: true on the CSIDriver so the driver refreshes it",
		audience, expires.UTC().Format(time.RFC3339))}
}

// Kind classifies auth failures so the caller can choose a status code.
type Kind int

const (
	// KindConfig: the request asks for something not allowed or not possible.
	KindConfig Kind = iota
	// KindCredential: the pod's identity could not be turned into a credential.
	KindCredential
	// KindDenied: Vault refused the login.
	KindDenied
	// KindUnavailable: Vault or an identity endpoint could not be reached.
	KindUnavailable
)

// Error is an auth failure with an explanation fit for the pod's events.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }
