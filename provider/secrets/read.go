// Package secrets reads the objects of a SecretProviderClass from Vault: KV
// v1 and v2 (detected from the mount), dynamic secrets via POST/PUT, and
// extracts and decodes the requested key.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/auth/keys"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// Reader reads secrets; it remembers which mounts are KV v2.
type Reader struct {
	mounts         *mountCache
	mountCacheSize int
	retry          retry.Backoff
}

// Option configures a Reader.
type Option func(*Reader)

// WithRetry sets the retry policy of reads (default retry.Default).
func WithRetry(b retry.Backoff) Option {
	return func(r *Reader) { r.retry = b }
}

// WithMountCacheSize bounds how many KV mounts the Reader remembers
// (default DefaultMountCacheSize).
func WithMountCacheSize(n int) Option {
	return func(r *Reader) { r.mountCacheSize = n }
}

// NewReader returns a Reader.
func NewReader(opts ...Option) *Reader {
	r := &Reader{retry: retry.Default}
	for _, o := range opts {
		o(r)
	}
	r.mounts = newMountCache(r.mountCacheSize)
	return r
}

// Request identifies one Vault call. Objects with equal Requests share one
// response, so a certificate and its private key come from the same issue.
type Request struct {
	Method string
	Path   string     // API path, without "/v1/" and without the query
	Query  url.Values // URL query parameters; nil: none
	Args   map[string]any
}

// RequestFor returns the Request behind obj.
func RequestFor(obj params.Object) Request {
	return Request{Method: obj.Method, Path: obj.SecretPath, Query: obj.Query, Args: obj.SecretArgs}
}

// Key identifies the request: its method, path, query (sorted) and
// arguments (JSON, whose maps have sorted keys), each prefixed by its
// length so that no two requests run together.
func (r Request) Key() string {
	args := ""
	if r.Args != nil {
		b, _ := json.Marshal(r.Args)
		args = string(b)
	}
	return keys.Join(r.Method, r.Path, r.Query.Encode(), args)
}

// String shows the request as Vault's API sees it, e.g.
// "GET secret/data/app?version=2"; never the arguments (they may be secret).
func (r Request) String() string {
	if len(r.Query) == 0 {
		return r.Method + " " + r.Path
	}
	return r.Method + " " + r.Path + "?" + r.Query.Encode()
}

// Via is how a Reader reaches Vault for one Mount: the TLS settings of its
// client (part of every cache key: holders of other settings share
// nothing) and the gate each call it makes passes (the Mount's share of
// the node's Vault concurrency; nil: none).
type Via struct {
	Connection string
	Gate       func(ctx context.Context) (release func(), err error)
}

func (v Via) enter(ctx context.Context) (func(), error) {
	if v.Gate == nil {
		return func() {}, nil
	}
	return v.Gate(ctx)
}

// Read resolves req (see Resolve) and performs it (see Send).
func (r *Reader) Read(ctx context.Context, client *vault.Client, via Via, req Request) (*vault.Secret, error) {
	req, err := r.Resolve(ctx, client, via, req)
	if err != nil {
		return nil, err
	}
	return r.Send(ctx, client, req)
}

// Resolve returns the request Vault needs for req: a GET of a bare path on
// a KV v2 mount ("secret/app") reads "secret/data/app"; every other path
// (data/, metadata/, subkeys/…, KV v1, other engines, writes) stays as
// written. client carries the token and namespace.
func (r *Reader) Resolve(ctx context.Context, client *vault.Client, via Via, req Request) (Request, error) {
	if req.Method != http.MethodGet {
		return req, nil
	}
	path, err := r.mounts.apiPath(ctx, client, via, req.Path, r.retry)
	if err != nil {
		return Request{}, err
	}
	req.Path = path
	return req, nil
}

// ResolveCached is Resolve when the answer is known without Vault: a
// method other than GET, or a path whose mount is cached. ok false: call
// Resolve.
// address and namespace are those of the client Resolve would use.
func (r *Reader) ResolveCached(address, namespace string, via Via, req Request) (resolved Request, ok bool) {
	if req.Method != http.MethodGet {
		return req, true
	}
	path, ok := r.mounts.cachedPath(lookupScope(address, namespace, via), req.Path)
	if !ok {
		return Request{}, false
	}
	req.Path = path
	return req, true
}

// Send performs the resolved request with client, which carries the token
// and namespace: the query goes into the URL and secretArgs, if any, into
// a JSON body whatever the method, as HashiCorp's provider sends them.
//
// Failures that may pass are retried (see Retryable); the error of a Send
// that gave up says how often it tried.
func (r *Reader) Send(ctx context.Context, client *vault.Client, req Request) (*vault.Secret, error) {
	var secret *vault.Secret
	err := r.retry.Do(ctx, func(err error) bool { return Retryable(ctx, req.Method, err) }, func(actx context.Context) error {
		var err error
		secret, err = send(actx, client, req)
		return err
	})
	if err != nil {
		return nil, vaultError(req.Method, req.Path, err)
	}
	if secret == nil || secret.Data == nil || deletedKVv2(secret) {
		return nil, &Error{Method: req.Method, Path: req.Path, Status: http.StatusNotFound,
			Message: "no secret at this path (for KV v2 check the mount and that the secret has a current version)"}
	}
	return secret, nil
}

func send(ctx context.Context, client *vault.Client, req Request) (*vault.Secret, error) {
	// The client adds its timeout to ctx and leaves that context for its
	// timer to end: cancelling ours once the answer is read frees it now.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hr := client.NewRequest(req.Method, "/v1/"+req.Path)
	for k, v := range req.Query {
		hr.Params[k] = slices.Clone(v)
	}
	if req.Args != nil {
		if err := hr.SetJSONBody(req.Args); err != nil {
			return nil, fmt.Errorf("encoding secretArgs as JSON: %w", err)
		}
	}
	//lint:ignore SA1019 the one client call that sends a query and a body with any method
	resp, err := client.RawRequestWithContext(ctx, hr)
	return client.Logical().ParseRawResponseAndCloseBody(resp, err)
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
	return retry.VaultRetryable(ctx, err)
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
		return fmt.Sprintf("Vault request %s %s failed: %s%s", e.Method, e.Path, e.Message, retry.TLSHint(e.Message))
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
	return fmt.Sprintf("Vault %s %s: HTTP %d: %s%s%s", e.Method, e.Path, e.Status, e.Message, hint, retry.Note(e.Err))
}

func vaultError(method, path string, err error) *Error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := retry.OneLine(strings.Join(re.Errors, "; "))
		if msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
		return &Error{Method: method, Path: path, Status: re.StatusCode, Message: msg, Err: err}
	}
	return &Error{Method: method, Path: path, Message: retry.OneLine(err.Error()), Err: err}
}
