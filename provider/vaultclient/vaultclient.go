// Package vaultclient builds Vault API clients for a SecretProviderClass's
// address and TLS parameters and keeps them, so connections are reused across
// mounts.
package vaultclient

import (
	"fmt"
	"net/http"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

func (p *Pool) newClient(address string, tls params.TLS) (*vault.Client, error) {
	tc, err := tlsConfig(tls)
	if err != nil {
		return nil, err
	}
	cfg := vault.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("default Vault config: %w", cfg.Error)
	}
	cfg.Address = address
	cfg.Timeout = p.timeout
	// The callers retry with their own policy (retry.Backoff): vault/api's
	// built-in retries would repeat logins refused with 500 and ignore the
	// mount's deadline.
	cfg.MaxRetries = 0
	transport, ok := cfg.HttpClient.Transport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("creating Vault client for %s: unexpected transport %T", address, cfg.HttpClient.Transport)
	}
	transport.TLSClientConfig = tc
	var rt http.RoundTripper = limitTransport{next: transport, max: p.maxBody, budget: p.budget}
	if obs := p.observer; obs != nil {
		rt = observe.Transport(rt, func(r *http.Request, status int) {
			obs.VaultRequest(requestKind(r.Method, r.URL.Path), status)
		})
	}
	// Outermost, so the metrics above still see the answer's status.
	cfg.HttpClient.Transport = retry.Transport(rt)
	if tls.SkipVerify {
		klog.InfoS("WARNING: vaultSkipTLSVerify is true: the Vault server's certificate is not verified; use vaultCACertPath instead", "vaultAddress", retry.Redact(address))
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating Vault client for %s: %w", retry.Redact(address), err)
	}
	c.ClearToken()
	c.ClearNamespace()
	return c, nil
}
