package vaultclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// Bounds on the TLS files a SecretProviderClass names: paths on the
// provider's filesystem that a namespace user chooses.
const (
	maxTLSFileBytes = 1 << 20 // one PEM file
	maxCADirFiles   = 256
	maxCADirBytes   = 4 << 20
)

// errNotPEMFile is every reason a TLS file cannot be used — missing, not a
// regular file, unreadable, too large, not PEM — in one message, so that
// no namespace learns which paths exist on the provider's node.
func errNotPEMFile(name, path string) error {
	return &params.Error{Parameter: name, Problem: fmt.Sprintf(
		"%q is not a readable PEM file of at most %d KiB on the provider's filesystem (mount it into the provider's pod)", path, maxTLSFileBytes>>10)}
}

// readBounded reads a regular file of at most max bytes. It opens without
// blocking (a FIFO would block an open) and refuses anything but a regular
// file (a device such as /dev/zero never ends).
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > max {
		return nil, errors.New("not a regular file within the bound")
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errors.New("larger than the bound")
	}
	return b, nil
}

// tlsConfig builds the TLS settings of a client for tls, reading its files
// within the bounds.
func tlsConfig(p params.TLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.ServerName, InsecureSkipVerify: p.SkipVerify} //nolint:gosec // vaultSkipTLSVerify is the class's explicit choice, logged
	roots, err := rootCAs(p)
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = roots
	if p.ClientCertPath != "" {
		certPEM, err := readBounded(p.ClientCertPath, maxTLSFileBytes)
		if err != nil {
			return nil, errNotPEMFile("vaultTLSClientCertPath", p.ClientCertPath)
		}
		keyPEM, err := readBounded(p.ClientKeyPath, maxTLSFileBytes)
		if err != nil {
			return nil, errNotPEMFile("vaultTLSClientKeyPath", p.ClientKeyPath)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, &params.Error{Parameter: "vaultTLSClientCertPath", Problem: fmt.Sprintf(
				"%q and vaultTLSClientKeyPath %q are not a PEM certificate and key that belong together", p.ClientCertPath, p.ClientKeyPath)}
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// rootCAs is the pool of the CA parameters, nil (the system's roots) when
// none is set. Like Vault's client (go-rootcerts), the first one set wins:
// vaultCACertPath, then vaultCAPem, then vaultCADirectory.
func rootCAs(p params.TLS) (*x509.CertPool, error) {
	switch {
	case p.CACertPath != "":
		b, err := readBounded(p.CACertPath, maxTLSFileBytes)
		if err != nil {
			return nil, errNotPEMFile("vaultCACertPath", p.CACertPath)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, errNotPEMFile("vaultCACertPath", p.CACertPath)
		}
		return pool, nil
	case p.CAPEM != "":
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(p.CAPEM)) {
			return nil, &params.Error{Parameter: "vaultCAPem", Problem: fmt.Sprintf("%s holds no PEM certificate", pemShown(p.CAPEM))}
		}
		return pool, nil
	case p.CADirectory != "":
		return caDirectory(p.CADirectory)
	}
	return nil, nil
}

// pemShown describes a PEM parameter without repeating it.
func pemShown(pem string) string {
	return fmt.Sprintf("(%d bytes of PEM)", len(pem))
}

// caDirectory reads the certificates of the regular files in dir, within
// bounds on their number and size.
func caDirectory(dir string) (*x509.CertPool, error) {
	bad := &params.Error{Parameter: "vaultCADirectory", Problem: fmt.Sprintf(
		"%q is not a readable directory of PEM certificates (at most %d files, %d MiB) on the provider's filesystem (mount it into the provider's pod)", dir, maxCADirFiles, maxCADirBytes>>20)}
	d, err := os.Open(dir)
	if err != nil {
		return nil, bad
	}
	entries, err := d.ReadDir(maxCADirFiles + 1)
	d.Close()
	if (err != nil && !errors.Is(err, io.EOF)) || len(entries) > maxCADirFiles {
		return nil, bad
	}
	pool := x509.NewCertPool()
	total, found := 0, false
	for _, e := range entries {
		b, err := readBounded(filepath.Join(dir, e.Name()), int64(min(maxTLSFileBytes, maxCADirBytes-total)))
		if err != nil {
			continue // not a regular file (a subdirectory, a Secret volume's ..data), or over the bound
		}
		total += len(b)
		if pool.AppendCertsFromPEM(b) {
			found = true
		}
	}
	if !found {
		return nil, bad
	}
	return pool, nil
}
