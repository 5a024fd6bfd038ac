// Package secrets reads the objects of a SecretProviderClass from Vault: KV
// v1 and v2 (detected from the mount), dynamic secrets via POST/PUT, and
// extracts and decodes the requested key.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// Reader reads secrets; it remembers which mounts are KV v2.
type Reader struct {
	mounts *mountCache
	retry  auth.Backoff
}

// Option configures a Reader.
type Option func(*Reader)

// WithRetry sets the retry policy of reads (default auth.DefaultBackoff).
func WithRetry(b auth.Backoff) Option {
	return func(r *Reader) { r.retry = b }
}

// NewReader returns a Reader.
func NewReader(opts ...Option) *Reader {
	r := &Reader{mounts: newMountCache(), retry: auth.DefaultBackoff}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Request identifies one Vault call. Objects with equal Requests share one
// response, so a certificate and its private key come from the same issue.
type Request struct {
	Method string
	Path   string
	Args   map[string]any
}

// RequestFor returns the Request behind obj.
func RequestFor(obj params.Object) Request {
	return Request{Method: obj.Method, Path: obj.SecretPath, Args: obj.SecretArgs}
}

// Read performs the request with client, which carries the token and
// namespace. KV v2 paths given without "data/" are completed.
//
// Failures that may pass are retried (see Retryable); the error of a Read
// that gave up says how often it tried.
func (r *Reader) Read(ctx context.Context, client *vault.Client, req Request) (*vault.Secret, error) {
	path := req.Path
	if req.Method == http.MethodGet {
		var err error
		if path, err = r.mounts.apiPath(ctx, client, req.Path, r.retry); err != nil {
			return nil, err
		}
	}
	var secret *vault.Secret
	err := r.retry.Do(ctx, func(err error) bool { return Retryable(ctx, req.Method, err) }, func(actx context.Context) error {
		var err error
		if req.Method == http.MethodGet {
			secret, err = client.Logical().ReadWithContext(actx, path)
		} else {
			secret, err = client.Logical().WriteWithContext(actx, path, req.Args)
		}
		return err
	})
	if err != nil {
		return nil, vaultError(req.Method, path, err)
	}
	if secret == nil || secret.Data == nil || deletedKVv2(secret) {
		return nil, &Error{Method: req.Method, Path: path, Status: http.StatusNotFound,
			Message: "no secret at this path (for KV v2 check the mount and that the secret has a current version)"}
	}
	return secret, nil
}

// deletedKVv2 recognises KV v2's answer for a deleted or destroyed version:
// Vault sends HTTP 404 with the version's metadata and "data": null, and the
// API client returns that as a secret instead of an error.
func deletedKVv2(s *vault.Secret) bool {
	d, hasData := s.Data["data"]
	_, hasMeta := s.Data["metadata"].(map[string]any)
	return hasData && d == nil && hasMeta
}

// Retryable reports whether a failed Vault request may succeed if tried
// again: no answer at all, 429, 502, 503 or 504 — and for GET also 500, which
// on a read is an internal error (storage, replication) that usually passes.
// A POST or PUT (e.g. pki/issue) that got 500 may have had effects: it is not
// repeated.
func Retryable(ctx context.Context, method string, err error) bool {
	var re *vault.ResponseError
	if method == http.MethodGet && errors.As(err, &re) && re.StatusCode == http.StatusInternalServerError {
		return true
	}
	return auth.VaultRetryable(ctx, err)
}

// Error is a failed Vault request: path, HTTP status and Vault's message.
type Error struct {
	Method  string
	Path    string
	Status  int // 0: no HTTP response
	Message string
	// Err is the underlying failure (it may be a context error).
	Err error
}

// Unwrap returns the underlying failure.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("Vault request %s %s failed: %s%s", e.Method, e.Path, e.Message, auth.TLSHint(e.Message))
	}
	hint := ""
	switch e.Status {
	case http.StatusForbidden:
		hint = ": the role's policies do not allow this path (for KV v2 the policy path needs data/, e.g. secret/data/db)"
	case http.StatusTooManyRequests:
		hint = ": Vault is rate limiting this client (a rate limit quota)"
	case http.StatusServiceUnavailable:
		hint = ": Vault is sealed or unavailable"
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		hint = ": a proxy or load balancer in front of Vault could not reach it"
	}
	return fmt.Sprintf("Vault %s %s: HTTP %d: %s%s%s", e.Method, e.Path, e.Status, e.Message, hint, auth.RetryNote(e.Err))
}

func vaultError(method, path string, err error) *Error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " ")
		if msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
		return &Error{Method: method, Path: path, Status: re.StatusCode, Message: msg, Err: err}
	}
	return &Error{Method: method, Path: path, Message: oneLine(err.Error()), Err: err}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
