// Command world runs the hermetic test world (Vault front over the real
// HashiCorp plugins, Azure emulator, TLS proxy) as a process of its own, for
// tests that live in other Go modules: the real-node tests under test/node.
// It writes its addresses as JSON to -info once it is ready, serves a small
// control API for those tests, and runs until SIGTERM, SIGINT or the end of
// its standard input (so it never outlives the test process that started it).
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
	"github.com/vaultazure/vault-azure-csi-provider/test/pgserver"
	"github.com/vaultazure/vault-azure-csi-provider/test/testca"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// Info is what the world tells its parent process (the -info file).
type Info struct {
	VaultAddr     string `json:"vaultAddr"`
	RootToken     string `json:"rootToken"`
	IMDSURL       string `json:"imdsURL"`
	NMIURL        string `json:"nmiURL"`
	AuthorityURL  string `json:"authorityURL"`
	ProxyURL      string `json:"proxyURL"`
	TenantID      string `json:"tenantID"`
	IssuerURL     string `json:"issuerURL"`
	CAFile        string `json:"caFile"`
	ControlURL    string `json:"controlURL"`
	AzureResource string `json:"azureResource"`
	// Postgres: with -postgres, a real PostgreSQL server whose connection
	// Vault's database engine at database/ has as config pg: roles with
	// db_name pg and creation_statements lease real logins.
	Postgres bool `json:"postgres"`
	// VaultTLSAddr serves the same Vault over HTTPS with a certificate of
	// its own private CA, VaultCAPEM (trusted by nothing else): a Vault
	// as a company runs it.
	VaultTLSAddr string `json:"vaultTLSAddr"`
	VaultCAPEM   string `json:"vaultCAPEM"`
	// TokenProxyURL is the AKS token proxy of identity bindings, its
	// certificate from the world's CA, TokenProxyCAPEM.
	TokenProxyURL   string `json:"tokenProxyURL"`
	TokenProxyCAPEM string `json:"tokenProxyCAPEM"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "world:", err)
		os.Exit(1)
	}
}

func run() error {
	signingKey := flag.String("signing-key", "", "PEM RSA key that signs the cluster's service-account tokens (kube-apiserver --service-account-signing-key-file); empty: a fresh key")
	realKube := flag.Bool("real-kubernetes-auth", false, "mount the real vault-plugin-auth-kubernetes at auth/kubernetes (unconfigured) instead of the jwt stand-in")
	infoFile := flag.String("info", "", "file to write the world's addresses to (JSON) once it is ready")
	postgres := flag.Bool("postgres", false, "run a real PostgreSQL server (Debian's postgresql) and configure the database engine at database/ with it as db_name pg")
	flag.Parse()
	if *infoFile == "" {
		return errors.New("-info is required")
	}
	opts := world.Options{RealKubernetesAuth: *realKube}
	if *signingKey != "" {
		key, err := cluster.ReadSigningKey(*signingKey)
		if err != nil {
			return err
		}
		opts.ClusterSigningKey = key
	}
	w, err := world.StartWith(opts)
	if err != nil {
		return fmt.Errorf("starting: %w", err)
	}
	defer w.Close()
	var pg *pgserver.Server
	if *postgres {
		if pg, err = startPostgres(w); err != nil {
			return err
		}
		defer pg.Close()
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newControl(w, pg), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	vaultTLS, vaultCA, err := serveVaultTLS(w.Vault)
	if err != nil {
		return err
	}
	defer vaultTLS.Close()

	info := Info{
		VaultTLSAddr: "https://" + vaultTLS.Addr, VaultCAPEM: string(vaultCA.CertPEM()),
		VaultAddr: w.Vault.Addr(), RootToken: w.Vault.RootToken(),
		IMDSURL: w.Azure.IMDSURL(), NMIURL: w.Azure.NMIURL(), AuthorityURL: w.Azure.AuthorityURL(),
		ProxyURL: w.Proxy.URL(), TenantID: world.TenantID, IssuerURL: world.ClusterIssuerURL,
		CAFile: w.CAFile, ControlURL: "http://" + ln.Addr().String(), AzureResource: world.AzureResource,
		Postgres: pg != nil, TokenProxyURL: w.TokenProxy.URL(), TokenProxyCAPEM: string(w.CA.CertPEM()),
	}
	if err := writeJSONFile(*infoFile, info); err != nil {
		return err
	}
	waitForEnd()
	if refused := w.Proxy.Refused(); len(refused) > 0 {
		return fmt.Errorf("something tried to reach real hosts: %v", refused)
	}
	return nil
}

// serveVaultTLS serves vault over HTTPS on the loopback, with a server
// certificate for 127.0.0.1 and localhost from a new private CA.
func serveVaultTLS(vault http.Handler) (*http.Server, *testca.CA, error) {
	ca, err := testca.New()
	if err != nil {
		return nil, nil, err
	}
	conf, err := ca.ServerTLSConfig("127.0.0.1", "localhost")
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: vault, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(ln, conf)) }()
	return srv, ca, nil
}

// startPostgres runs PostgreSQL and gives it to the database engine.
func startPostgres(w *world.World) (*pgserver.Server, error) {
	pg, err := pgserver.Start()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	root, err := w.Root()
	if err == nil {
		_, err = root.Logical().Write("sys/mounts/database", map[string]any{"type": "database"})
	}
	if err == nil {
		_, err = root.Logical().Write("database/config/pg", map[string]any{"plugin_name": "postgresql-database-plugin",
			"connection_url": pg.VaultConnectionURL(), "username": pg.User, "password": pg.Password})
	}
	if err != nil {
		pg.Close()
		return nil, fmt.Errorf("configuring the database engine: %w", err)
	}
	return pg, nil
}

// waitForEnd returns on SIGTERM, SIGINT or when standard input reaches its
// end (the parent closed the pipe or died).
func waitForEnd() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	stdinDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinDone)
	}()
	select {
	case <-ctx.Done():
	case <-stdinDone:
	}
}

// writeJSONFile writes v to path atomically (a reader never sees half).
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
