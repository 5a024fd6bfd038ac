package azure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// Defaults of the AKS token proxy that identity bindings exchange tokens at:
// the cluster's API server, as a pod reaches it, trusted with the cluster CA
// every pod's service-account volume carries.
const (
	DefaultTokenProxyURL    = "https://kubernetes.default.svc"
	DefaultTokenProxyCAFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// IdentityBindingAudience is the audience of the service-account token an
// identity binding presents to the AKS token proxy.
const IdentityBindingAudience = "api://AKSIdentityBinding"

// TokenProxyConfig says where the AKS token proxy is and how it is trusted.
type TokenProxyConfig struct {
	URL    string // default DefaultTokenProxyURL
	CAFile string // PEM, default DefaultTokenProxyCAFile; re-read when it changes
	// ServerName is the TLS server name the proxy answers to; empty: derived
	// from the cluster id in the API server's certificate (ProxyServerName).
	ServerName string
}

// Cluster-id name in an AKS API server certificate, and the server name AKS
// derives from it for the token proxy.
const (
	clusterIDPrefix = "hcp-kubernetes."
	clusterIDSuffix = ".svc.cluster.local"
	proxyNameSalt   = "identity-binding"
	proxyNameSuffix = ".ests.aks"
)

// ProxyServerName is the TLS server name AKS gives the token proxy of the
// cluster clusterID: "a" + base32hex(sha256("identity-binding"+clusterID)),
// lower case and unpadded, + ".ests.aks" (a DNS label of 53 characters).
func ProxyServerName(clusterID string) string {
	sum := sha256.Sum256([]byte(proxyNameSalt + clusterID))
	return "a" + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])) + proxyNameSuffix
}

// ClusterIDOf finds the AKS cluster id in an API server certificate's DNS
// names (hcp-kubernetes.<id>.svc.cluster.local).
func ClusterIDOf(cert *x509.Certificate) (string, bool) {
	for _, name := range cert.DNSNames {
		if id, ok := strings.CutPrefix(name, clusterIDPrefix); ok {
			if id, ok = strings.CutSuffix(id, clusterIDSuffix); ok && id != "" && !strings.Contains(id, ".") {
				return id, true
			}
		}
	}
	return "", false
}

// tokenProxy sends Entra token requests to the AKS token proxy: each
// request's path and query are kept, its scheme and host become the proxy's,
// and TLS is verified with the cluster CA under the proxy's server name.
//
// azidentity v1.15 has this (WorkloadIdentityCredentialOptions.EnableAzureProxy)
// but configures it only from process environment variables and only for a
// credential that reads its assertion from a file; this provider gets each
// pod's token in the mount request and must not write it to disk, so it
// plugs the same behaviour into ClientAssertionCredential as a transport.
type tokenProxy struct {
	cfg     TokenProxyConfig
	base    *url.URL
	timeout time.Duration
	wrap    func(http.RoundTripper) http.RoundTripper // counting, for the observer

	mu       sync.Mutex
	caPEM    []byte
	pool     *x509.CertPool
	name     string // resolved server name
	nameErr  error
	nameWhen time.Time
	rt       http.RoundTripper
}

// nameRetry is how long a failed server-name derivation is remembered: a
// flood of identity-binding mounts must not dial the API server each.
const nameRetry = 30 * time.Second

func newTokenProxy(cfg TokenProxyConfig, timeout time.Duration, wrap func(http.RoundTripper) http.RoundTripper) (*tokenProxy, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultTokenProxyURL
	}
	if cfg.CAFile == "" {
		cfg.CAFile = DefaultTokenProxyCAFile
	}
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || u.Host == "":
		return nil, fmt.Errorf("azure token proxy URL %q is not a URL", cfg.URL)
	case u.Scheme != "https":
		return nil, fmt.Errorf("azure token proxy URL %q must use https", cfg.URL)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("azure token proxy URL %q must have no user, query or fragment", cfg.URL)
	}
	if strings.ContainsAny(cfg.ServerName, "/: ") {
		return nil, fmt.Errorf("azure token proxy server name %q must be a host name (no scheme or port)", cfg.ServerName)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return &tokenProxy{cfg: cfg, base: u, timeout: timeout, wrap: wrap}, nil
}

// Do implements policy.Transporter.
func (p *tokenProxy) Do(req *http.Request) (*http.Response, error) {
	rt, err := p.transport(req.Context())
	if err != nil {
		return nil, nonRetriable{err} // a setting to fix, or remembered for nameRetry
	}
	out := req.Clone(req.Context())
	out.URL = p.base.JoinPath(req.URL.EscapedPath())
	out.URL.RawQuery = req.URL.RawQuery
	out.Host = ""
	resp, err := rt.RoundTrip(out)
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return nil, nonRetriable{err} // the same certificate again
	}
	return resp, err
}

// nonRetriable marks an error azcore's retry policy must not retry
// (azcore's errorinfo.NonRetriable): a wrong server name or CA fails the
// same way each time, and retrying would hold the mount for seconds.
type nonRetriable struct{ error }

func (nonRetriable) NonRetriable()   {}
func (e nonRetriable) Unwrap() error { return e.error }

// transport returns the round tripper for the current CA file and server
// name, building a new one when the CA file's content changed.
func (p *tokenProxy) transport(ctx context.Context) (http.RoundTripper, error) {
	pemBytes, err := os.ReadFile(p.cfg.CAFile)
	if err != nil {
		return nil, proxyError(fmt.Errorf("reading the cluster CA %s for the token proxy: %w (set --azure-token-proxy-ca-file)", p.cfg.CAFile, err))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rt == nil || !bytes.Equal(pemBytes, p.caPEM) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, proxyError(fmt.Errorf("the cluster CA file %s holds no PEM certificate", p.cfg.CAFile))
		}
		p.caPEM, p.pool, p.rt = pemBytes, pool, nil
	}
	name, err := p.serverNameLocked(ctx)
	if err != nil {
		return nil, err
	}
	if p.rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // the API server is reached directly, never through HTTPS_PROXY
		t.TLSClientConfig = &tls.Config{RootCAs: p.pool, ServerName: name, MinVersion: tls.VersionTLS12}
		p.rt = t
		if p.wrap != nil {
			p.rt = p.wrap(t)
		}
	}
	return p.rt, nil
}

// serverNameLocked is the configured server name, or the one derived from
// the cluster id in the proxy host's certificate (remembered once found).
func (p *tokenProxy) serverNameLocked(ctx context.Context) (string, error) {
	if p.cfg.ServerName != "" {
		return p.cfg.ServerName, nil
	}
	if p.name != "" {
		return p.name, nil
	}
	if p.nameErr != nil && time.Since(p.nameWhen) < nameRetry {
		return "", p.nameErr
	}
	id, err := p.clusterID(ctx)
	p.nameWhen = time.Now()
	if err != nil {
		p.nameErr = err
		return "", err
	}
	p.name, p.nameErr = ProxyServerName(id), nil
	return p.name, nil
}

// clusterID dials the proxy host as itself and reads the AKS cluster id from
// its certificate.
func (p *tokenProxy) clusterID(ctx context.Context) (string, error) {
	host := p.base.Host
	if p.base.Port() == "" {
		host = net.JoinHostPort(p.base.Hostname(), "443")
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: p.pool, ServerName: p.base.Hostname(), MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return "", &auth.Error{Kind: auth.KindUnavailable, Err: fmt.Errorf(
			"deriving the token proxy's TLS server name: connecting to %s with the cluster CA %s: %w (set --azure-token-proxy-url, or --azure-token-proxy-server-name to skip this)", host, p.cfg.CAFile, err)}
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) > 0 {
		if id, ok := ClusterIDOf(certs[0]); ok {
			return id, nil
		}
	}
	return "", proxyError(errors.New("deriving the token proxy's TLS server name: the certificate of " + host +
		" names no AKS cluster id (hcp-kubernetes.<id>.svc.cluster.local): it is not an AKS API server; set --azure-token-proxy-server-name"))
}

// proxyError is a token-proxy setting the admin must fix.
func proxyError(err error) error { return &auth.Error{Kind: auth.KindConfig, Err: err} }
