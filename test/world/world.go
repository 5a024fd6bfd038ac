// Package world starts the hermetic test world: a Vault front over the real
// HashiCorp backends, an Azure identity emulator behind a TLS-terminating
// CONNECT proxy, a fake cluster's service-account token issuer, and the
// provider binary. Everything listens on 127.0.0.1 only.
package world

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
	"github.com/vaultazure/vault-azure-csi-provider/test/testca"
	"github.com/vaultazure/vault-azure-csi-provider/test/tlsproxy"
	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
)

// World is the running set of fakes-made-of-real-parts.
type World struct {
	Dir     string
	CA      *testca.CA
	CAFile  string
	Cluster *cluster.Issuer
	Azure   *azureemu.Emulator
	// TokenProxy is the cluster's AKS token proxy (identity bindings).
	TokenProxy *azureemu.TokenProxy
	Proxy      *tlsproxy.Proxy
	Vault      *vaultfront.Server
	Kubelet    *Kubelet
	opts       Options
	closers    []func() error
}

// Start brings the world up and seeds it (see seed.go). Call it before
// anything in the process makes an HTTP request: it points the process's
// HTTPS proxy and CA trust at the world (Go caches both on first use), so the
// in-process Vault azure backend reaches the emulator and never real Azure.
func Start() (*World, error) {
	return StartWith(Options{})
}

// StartWith is Start with options (see Options).
func StartWith(opts Options) (w *World, err error) {
	dir, err := os.MkdirTemp("", "vault-azure-world-")
	if err != nil {
		return nil, err
	}
	w = &World{Dir: dir, opts: opts}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.CA, err = testca.New(); err != nil {
		return nil, fmt.Errorf("test CA: %w", err)
	}
	if w.CAFile, err = w.CA.WriteCertFile(dir); err != nil {
		return nil, fmt.Errorf("writing CA file: %w", err)
	}
	if w.Cluster, err = opts.clusterIssuer(); err != nil {
		return nil, fmt.Errorf("cluster issuer: %w", err)
	}
	w.Azure, err = azureemu.New(azureemu.Config{TenantID: TenantID, CA: w.CA, ClusterIssuer: w.Cluster})
	if err != nil {
		return nil, fmt.Errorf("azure emulator: %w", err)
	}
	w.closers = append(w.closers, w.Azure.Close)
	if w.TokenProxy, err = w.Azure.StartTokenProxy(ClusterID); err != nil {
		return nil, fmt.Errorf("token proxy: %w", err)
	}
	w.closers = append(w.closers, w.TokenProxy.Close)
	w.Proxy, err = tlsproxy.New(w.CA, map[string]http.Handler{
		"login.microsoftonline.com": w.Azure.Handler(),
		"management.azure.com":      w.Azure.Handler(),
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	w.closers = append(w.closers, w.Proxy.Close)
	if err := tlsproxy.ConfigureProcessEnv(w.Proxy.URL(), w.CAFile); err != nil {
		return nil, err
	}
	if err := tlsproxy.Check(); err != nil {
		return nil, err
	}
	if w.Kubelet, err = startKubelet(dir); err != nil {
		return nil, fmt.Errorf("kubelet pod-resources stand-in: %w", err)
	}
	w.closers = append(w.closers, w.Kubelet.close)
	if w.Vault, err = vaultfront.New(vaultfront.Options{}); err != nil {
		return nil, fmt.Errorf("vault front: %w", err)
	}
	w.closers = append(w.closers, w.Vault.Close)
	if err := w.seed(); err != nil {
		return nil, fmt.Errorf("seeding the world: %w", err)
	}
	return w, nil
}

// Close stops everything and removes the world's files.
func (w *World) Close() error {
	var errs []error
	for i := len(w.closers) - 1; i >= 0; i-- {
		errs = append(errs, w.closers[i]())
	}
	w.closers = nil
	if w.Dir != "" {
		errs = append(errs, os.RemoveAll(w.Dir))
	}
	return errors.Join(errs...)
}

// Root returns a Vault client with the root token, for setup and rotation.
func (w *World) Root() (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	cfg.Address = w.Vault.Addr()
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(w.Vault.RootToken())
	return c, nil
}

// TempDir returns a new directory inside the world's directory.
func (w *World) TempDir(name string) (string, error) {
	d := filepath.Join(w.Dir, name)
	return d, os.MkdirAll(d, 0o755)
}
