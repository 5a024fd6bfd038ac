// Package testca is a throw-away certificate authority for hermetic tests.
//
// It issues TLS server certificates for loopback listeners and for the Azure
// host names that a test proxy impersonates (login.microsoftonline.com,
// management.azure.com), and client certificates for mTLS tests. Keys are
// ECDSA P-256 so that creating a CA and many leaves stays cheap.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// certValidity is how long certificates issued by a CA stay valid. Tests are
// short, but a generous window keeps clock skew from mattering.
const certValidity = 24 * time.Hour

// CA is an in-memory certificate authority. It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey

	mu     sync.Mutex
	leaves map[string]*tls.Certificate // cache of server leaves by host list
}

// New creates a CA with a fresh self-signed root certificate.
func New() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testca: generate root key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vault-azure-csi-provider test CA", Organization: []string{"testca"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testca: self-sign root: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testca: parse root: %w", err)
	}
	return &CA{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:     key,
		leaves:  map[string]*tls.Certificate{},
	}, nil
}

// CertPEM returns the PEM encoded root certificate.
func (c *CA) CertPEM() []byte {
	out := make([]byte, len(c.certPEM))
	copy(out, c.certPEM)
	return out
}

// Certificate returns the parsed root certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// WriteCertFile writes the PEM root certificate to dir/ca.pem and returns its
// path, e.g. for SSL_CERT_FILE or VAULT_CACERT.
func (c *CA) WriteCertFile(dir string) (string, error) {
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, c.certPEM, 0o600); err != nil {
		return "", fmt.Errorf("testca: write %s: %w", path, err)
	}
	return path, nil
}

// Pool returns a new certificate pool holding only the root certificate.
func (c *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.cert)
	return pool
}

// ServerTLSConfig returns a TLS server configuration whose certificate covers
// hosts (DNS names or IP addresses such as 127.0.0.1). The configuration
// offers HTTP/1.1 only, which keeps hand-rolled servers and proxies simple.
func (c *CA) ServerTLSConfig(hosts ...string) (*tls.Config, error) {
	leaf, err := c.ServerCertificate(hosts...)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// MTLSServerConfig is like ServerTLSConfig but also requires and verifies a
// client certificate issued by this CA.
func (c *CA) MTLSServerConfig(hosts ...string) (*tls.Config, error) {
	cfg, err := c.ServerTLSConfig(hosts...)
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs = c.Pool()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	return cfg, nil
}

// ClientTLSConfig returns a TLS client configuration that trusts only this CA.
func (c *CA) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: c.Pool(), MinVersion: tls.VersionTLS12}
}

// ServerCertificate returns a (cached) leaf certificate for hosts.
func (c *CA) ServerCertificate(hosts ...string) (*tls.Certificate, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("testca: server certificate needs at least one host")
	}
	key := cacheKey(hosts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if leaf, ok := c.leaves[key]; ok {
		return leaf, nil
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	leaf, _, _, err := c.issue(tmpl)
	if err != nil {
		return nil, fmt.Errorf("testca: server certificate for %v: %w", hosts, err)
	}
	c.leaves[key] = leaf
	return leaf, nil
}

// ClientCert issues a client-authentication certificate with the given common
// name and returns it and its private key PEM encoded (for Vault mTLS tests).
func (c *CA) ClientCert(cn string) (certPEM, keyPEM []byte, err error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	_, certPEM, keyPEM, err = c.issue(tmpl)
	if err != nil {
		return nil, nil, fmt.Errorf("testca: client certificate for %q: %w", cn, err)
	}
	return certPEM, keyPEM, nil
}

// issue signs tmpl with the root key for a new leaf key.
func (c *CA) issue(tmpl *x509.Certificate) (*tls.Certificate, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate leaf key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(certValidity)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sign leaf: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("marshal leaf key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	leaf, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("load leaf key pair: %w", err)
	}
	return &leaf, certPEM, keyPEM, nil
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("testca: random serial: %w", err)
	}
	return serial, nil
}

func cacheKey(hosts []string) string {
	sorted := append([]string(nil), hosts...)
	sort.Strings(sorted)
	return strings.Join(sorted, ",")
}
