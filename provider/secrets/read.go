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
}

// NewReader returns a Reader.
func NewReader() *Reader {
	return &Reader{mounts: newMountCache()}
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
func (r *Reader) Read(ctx context.Context, client *vault.Client, req Request) (*vault.Secret, error) {
	path := req.Path
	if req.Method == http.MethodGet {
		path = r.mounts.apiPath(ctx, client, req.Path)
	}
	var secret *vault.Secret
	var err error
	if req.Method == http.MethodGet {
		secret, err = client.Logical().ReadWithContext(ctx, path)
	} else {
		secret, err = client.Logical().WriteWithContext(ctx, path, req.Args)
	}
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

// Error is a failed Vault request: path, HTTP status and Vault's message.
type Error struct {
	Method  string
	Path    string
	Status  int // 0: no HTTP response
	Message string
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("Vault request %s %s failed: %s%s", e.Method, e.Path, e.Message, auth.TLSHint(e.Message))
	}
	hint := ""
	switch e.Status {
	case http.StatusForbidden:
		hint = ": the role's policies do not allow this path (for KV v2 the policy path needs data/, e.g. secret/data/db)"
	case http.StatusNotFound:
		hint = ""
	case http.StatusServiceUnavailable:
		hint = ": Vault is sealed or unavailable"
	}
	return fmt.Sprintf("Vault %s %s: HTTP %d: %s%s", e.Method, e.Path, e.Status, e.Message, hint)
}

func vaultError(method, path string, err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " ")
		if msg == "" {
			msg = http.StatusText(re.StatusCode)
		}
		return &Error{Method: method, Path: path, Status: re.StatusCode, Message: msg}
	}
	return &Error{Method: method, Path: path, Message: err.Error()}
}
