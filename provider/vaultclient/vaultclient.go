// Package vaultclient builds Vault API clients for a SecretProviderClass's
// address and TLS parameters and keeps them, so connections are reused across
// mounts.
package vaultclient

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// Pool hands out one base client per (address, TLS settings). Base clients
// carry no token and no namespace: callers clone them per use.
type Pool struct {
	timeout time.Duration
	observe func(kind string, status int)
	mu      sync.Mutex
	clients map[string]*vault.Client
}

// NewPool returns a Pool whose clients time out requests after timeout and,
// if observe is not nil, report every HTTP request's kind and status to it.
func NewPool(timeout time.Duration, observe func(kind string, status int)) *Pool {
	return &Pool{timeout: timeout, observe: observe, clients: map[string]*vault.Client{}}
}

// Get returns the base client for address and tls.
func (p *Pool) Get(address string, tls params.TLS) (*vault.Client, error) {
	k, _ := json.Marshal([]any{address, tls})
	key := string(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	c, err := p.newClient(address, tls)
	if err != nil {
		return nil, err
	}
	p.clients[key] = c
	return c, nil
}

func (p *Pool) newClient(address string, tls params.TLS) (*vault.Client, error) {
	for name, path := range map[string]string{
		"vaultCACertPath": tls.CACertPath, "vaultCADirectory": tls.CADirectory,
		"vaultTLSClientCertPath": tls.ClientCertPath, "vaultTLSClientKeyPath": tls.ClientKeyPath,
	} {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return nil, &params.Error{Parameter: name, Problem: fmt.Sprintf("%q cannot be read by the provider: %v (the path is on the provider's node filesystem, mount it into the provider pod)", path, err)}
		}
	}
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("default Vault config: %w", cfg.Error)
	}
	cfg.Address = address
	cfg.Timeout = p.timeout
	// The callers retry with their own policy (auth.Backoff): vault/api's
	// built-in retries would repeat logins refused with 500 and ignore the
	// mount's deadline.
	cfg.MaxRetries = 0
	tc := &vault.TLSConfig{
		CACert: tls.CACertPath, CAPath: tls.CADirectory, CACertBytes: []byte(tls.CAPEM),
		ClientCert: tls.ClientCertPath, ClientKey: tls.ClientKeyPath,
		TLSServerName: tls.ServerName, Insecure: tls.SkipVerify,
	}
	if err := cfg.ConfigureTLS(tc); err != nil {
		return nil, tlsParameterError(tls, err)
	}
	cfg.HttpClient.Transport = retryAfterTransport{next: cfg.HttpClient.Transport}
	if p.observe != nil {
		cfg.HttpClient.Transport = &metrics.RoundTripper{Next: cfg.HttpClient.Transport, Count: func(r *http.Request, status int) {
			p.observe(metrics.VaultKind(r.Method, r.URL.Path), status)
		}}
	}
	if tls.SkipVerify {
		klog.InfoS("WARNING: vaultSkipTLSVerify is true: the Vault server's certificate is not verified; use vaultCACertPath instead", "vaultAddress", address)
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Vault client for %s: %w", address, err)
	}
	c.ClearToken()
	c.ClearNamespace()
	return c, nil
}

// retryAfterTransport hands each response's Retry-After to the retry policy
// of the call that made the request (see auth.NoteRetryAfter).
type retryAfterTransport struct {
	next http.RoundTripper
}

func (t retryAfterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err == nil && auth.RetryableStatus(resp.StatusCode) {
		auth.NoteRetryAfter(r.Context(), resp.Header)
	}
	return resp, err
}
