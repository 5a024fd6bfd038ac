package tlsproxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/test/testca"
)

func newTestProxy(t *testing.T) (*Proxy, *testca.CA) {
	t.Helper()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s path=%s tls=%v", r.Host, r.URL.Path, r.TLS != nil)
	})
	p, err := New(ca, map[string]http.Handler{"login.microsoftonline.com": echo, "Management.Azure.com": echo})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, ca
}

func clientVia(t *testing.T, p *Proxy, roots *tls.Config) *http.Client {
	t.Helper()
	u, err := url.Parse(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u), TLSClientConfig: roots}}
}

func TestProxyRoutesAndRefuses(t *testing.T) {
	p, ca := newTestProxy(t)
	client := clientVia(t, p, ca.ClientTLSConfig())
	tests := []struct {
		name     string
		url      string
		wantBody string // empty: the request must fail or be refused
	}{
		{"entra", "https://login.microsoftonline.com/t/.well-known/openid-configuration",
			"host=login.microsoftonline.com path=/t/.well-known/openid-configuration tls=true"},
		{"arm mixed case route", "https://management.azure.com/subscriptions/x",
			"host=management.azure.com path=/subscriptions/x tls=true"},
		{"graph refused", "https://graph.microsoft.com/v1.0/me", ""},
		{"imds refused", "http://169.254.169.254/metadata/identity/oauth2/token", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Get(tc.url)
			if tc.wantBody == "" {
				if err == nil {
					defer resp.Body.Close()
					if resp.StatusCode != http.StatusForbidden {
						t.Fatalf("status %d, want refusal", resp.StatusCode)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if string(body) != tc.wantBody {
				t.Fatalf("body %q, want %q", body, tc.wantBody)
			}
		})
	}
	got := strings.Join(p.Refused(), " ")
	want := "graph.microsoft.com:443 http://169.254.169.254/metadata/identity/oauth2/token"
	if got != want {
		t.Fatalf("refused %q, want %q", got, want)
	}
}

func TestProxyCertificateNeedsTestCA(t *testing.T) {
	p, _ := newTestProxy(t)
	client := clientVia(t, p, &tls.Config{MinVersion: tls.VersionTLS12})
	resp, err := client.Get("https://login.microsoftonline.com/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("TLS to the impersonated host succeeded without trusting the test CA")
	}
}

func TestNewRequiresCA(t *testing.T) {
	if _, err := New(nil, nil); err == nil {
		t.Fatal("New without CA succeeded")
	}
}

// helperEnv selects a scenario that runs in a fresh subprocess, because Go
// caches proxy settings process-wide on first use.
const helperEnv = "TLSPROXY_CHECK_HELPER"

func TestCheckScenarios(t *testing.T) {
	tests := []struct {
		scenario string
		wantOK   bool
	}{
		{"configured", true},
		{"no-proxy-env", false},
		{"used-net-http-first", false},
		{"azure-env-left", false},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestCheckHelper$", "-test.v")
			cmd.Env = append(cleanEnv(), helperEnv+"="+tc.scenario, "TLSPROXY_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			ok := strings.Contains(string(out), "CHECK-OK")
			if err != nil || ok != tc.wantOK {
				t.Fatalf("scenario %s: ok=%v want %v (err %v)\n%s", tc.scenario, ok, tc.wantOK, err, out)
			}
		})
	}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k := strings.ToUpper(strings.SplitN(kv, "=", 2)[0])
		if strings.HasSuffix(k, "_PROXY") || strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "SSL_CERT") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// TestCheckHelper is the subprocess body of TestCheckScenarios.
func TestCheckHelper(t *testing.T) {
	scenario := os.Getenv(helperEnv)
	if scenario == "" {
		t.Skip("subprocess helper")
	}
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCertFile(os.Getenv("TLSPROXY_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	switch scenario {
	case "used-net-http-first":
		req, _ := http.NewRequest(http.MethodGet, "https://example.invalid/", nil)
		_, _ = http.ProxyFromEnvironment(req) // caches "no proxy"
		fallthrough
	case "configured":
		if err := ConfigureProcessEnv("http://127.0.0.1:9", caFile); err != nil {
			t.Fatal(err)
		}
	case "azure-env-left":
		if err := ConfigureProcessEnv("http://127.0.0.1:9", caFile); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AZURE_CLIENT_ID", "x")
	}
	if err := Check(); err != nil {
		t.Logf("CHECK-FAILED: %v", err)
		return
	}
	if err := systemPoolTrusts(ca); err != nil {
		t.Fatalf("SSL_CERT_FILE not effective: %v", err)
	}
	t.Log("CHECK-OK")
}

func TestConfigureProcessEnvRejectsRemoteProxy(t *testing.T) {
	for _, raw := range []string{"http://10.1.2.3:3128", "https://127.0.0.1:1", "http://proxy.example.com:80"} {
		if err := requireLoopbackProxy(raw); err == nil {
			t.Errorf("%s accepted as a loopback proxy", raw)
		}
	}
	if err := ConfigureProcessEnv("http://10.1.2.3:3128", "/nonexistent"); err == nil {
		t.Error("ConfigureProcessEnv accepted a remote proxy")
	}
}

// systemPoolTrusts checks that the process's system roots accept a leaf from ca.
func systemPoolTrusts(ca *testca.CA) error {
	leaf, err := ca.ServerCertificate("login.microsoftonline.com")
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		return err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		return err
	}
	_, err = cert.Verify(x509.VerifyOptions{DNSName: "login.microsoftonline.com", Roots: pool})
	return err
}
