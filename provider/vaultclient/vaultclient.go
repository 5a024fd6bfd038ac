// Package vaultclient builds Vault API clients for a SecretProviderClass's
// address and TLS parameters and keeps them, so connections are reused across
// mounts.
package vaultclient

import (
	"fmt"
	"net/http"
	"os"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

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
	// The callers retry with their own policy (retry.Backoff): vault/api's
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
	if obs := p.observer; obs != nil {
		cfg.HttpClient.Transport = observe.Transport(cfg.HttpClient.Transport, func(r *http.Request, status int) {
			obs.VaultRequest(requestKind(r.Method, r.URL.Path), status)
		})
	}
	// Outermost, so the metrics above still see the answer's status.
	cfg.HttpClient.Transport = retry.Transport(cfg.HttpClient.Transport)
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
