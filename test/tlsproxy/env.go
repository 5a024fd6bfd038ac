package tlsproxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// azureEnv lists variables that make Azure SDKs or vault-plugin-auth-azure
// bypass their configuration (the plugin prefers AZURE_TENANT_ID,
// AZURE_AD_RESOURCE, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and
// AZURE_ENVIRONMENT to its stored config) or pick a managed-identity source
// other than IMDS. A hermetic test process must not inherit any of them.
var azureEnv = []string{
	"AZURE_TENANT_ID", "AZURE_AD_RESOURCE", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
	"AZURE_ENVIRONMENT", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
	"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_REGIONAL_AUTHORITY_NAME",
	"AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_TOKEN_CREDENTIALS",
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT",
	"IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET",
}

// noSystemRootsDir is a name next to the CA file that is never created:
// pointing SSL_CERT_DIR at it stops Go (and OpenSSL) from loading the
// system's CA directory.
const noSystemRootsDir = "no-system-roots.d"

// probeURLs are the destinations Check requires to go through a loopback
// proxy: Entra ID, ARM, Microsoft Graph and the real IMDS address.
var probeURLs = []string{
	"https://login.microsoftonline.com/common/discovery/instance",
	"https://management.azure.com/subscriptions",
	"https://graph.microsoft.com/v1.0/applications",
	"http://169.254.169.254/metadata/identity/oauth2/token",
}

// ConfigureProcessEnv prepares the current process for hermetic Azure tests:
// it points HTTPS_PROXY and HTTP_PROXY (and their lower-case forms) at
// proxyURL, sets NO_PROXY=127.0.0.1,localhost, makes caFile the only source
// of trusted roots (SSL_CERT_FILE=caFile, and SSL_CERT_DIR pointing at a
// directory that does not exist, so the system's CA directory is not read) and
// unsets the AZURE_* and managed-identity variables that would override plugin
// configuration.
//
// It must run before anything in the process uses net/http's
// ProxyFromEnvironment (any request through http.DefaultTransport or a
// cleanhttp client) or loads the system certificate pool: Go reads both once
// and caches them for the life of the process. Call it first thing in
// TestMain (or main), then call Check.
//
// Plain-HTTP requests are proxied too, so that a stray request to the real
// IMDS address 169.254.169.254 is refused by the proxy instead of reaching an
// actual Azure VM's metadata service.
func ConfigureProcessEnv(proxyURL, caFile string) error {
	if err := requireLoopbackProxy(proxyURL); err != nil {
		return err
	}
	abs, err := filepath.Abs(caFile)
	if err != nil {
		return fmt.Errorf("tlsproxy: CA file path %q: %w", caFile, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("tlsproxy: CA file: %w", err)
	}
	set := map[string]string{
		"HTTPS_PROXY": proxyURL, "https_proxy": proxyURL,
		"HTTP_PROXY": proxyURL, "http_proxy": proxyURL,
		"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
		"SSL_CERT_FILE": abs, "SSL_CERT_DIR": filepath.Join(filepath.Dir(abs), noSystemRootsDir),
	}
	for k, v := range set {
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("tlsproxy: set %s: %w", k, err)
		}
	}
	for _, k := range append(azureEnv, "ALL_PROXY", "all_proxy") {
		if err := os.Unsetenv(k); err != nil {
			return fmt.Errorf("tlsproxy: unset %s: %w", k, err)
		}
	}
	return nil
}

// Check fails closed unless this process sends every request for Entra ID,
// ARM, Microsoft Graph and IMDS (169.254.169.254) to a loopback proxy, and no
// AZURE_* override variable is set. It asks net/http's own
// ProxyFromEnvironment, so it also catches a proxy configuration that was
// cached before ConfigureProcessEnv ran. Calling Check therefore fixes the
// process's proxy settings; call it after ConfigureProcessEnv.
func Check() error {
	var errs []error
	for _, raw := range probeURLs {
		req, err := http.NewRequest(http.MethodGet, raw, nil)
		if err != nil {
			return fmt.Errorf("tlsproxy: probe request %s: %w", raw, err)
		}
		proxy, err := http.ProxyFromEnvironment(req)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("proxy for %s: %w", raw, err))
		case proxy == nil:
			errs = append(errs, fmt.Errorf("%s would be fetched directly (set HTTPS_PROXY/HTTP_PROXY before first use of net/http)", raw))
		default:
			if err := requireLoopbackProxy(proxy.String()); err != nil {
				errs = append(errs, fmt.Errorf("proxy for %s: %w", raw, err))
			}
		}
	}
	for _, k := range azureEnv {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			errs = append(errs, fmt.Errorf("%s is set; it would override test configuration", k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tlsproxy: process is not hermetic: %w", err)
	}
	return nil
}

func requireLoopbackProxy(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("tlsproxy: proxy URL %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("tlsproxy: proxy URL %q must be http://", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	return fmt.Errorf("tlsproxy: proxy %q is not on a loopback address", raw)
}
