package azure

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe/observetest"
)

type capture struct{ got *http.Request }

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	c.got = r
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

func TestIMDSRewriter(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		in       string
		want     string // URL the base transport sees
	}{
		{"IMDS token request goes to the emulator", "http://127.0.0.1:8080",
			"http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F",
			"http://127.0.0.1:8080/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"},
		{"https endpoint", "https://imds-proxy.local:8443",
			"http://169.254.169.254/metadata/instance?api-version=2021-02-01",
			"https://imds-proxy.local:8443/metadata/instance?api-version=2021-02-01"},
		{"Entra ID untouched", "http://127.0.0.1:8080",
			"https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
			"https://login.microsoftonline.com/tenant/oauth2/v2.0/token"},
		{"other link-local address untouched", "http://127.0.0.1:8080",
			"http://169.254.169.253/metadata/instance",
			"http://169.254.169.253/metadata/instance"},
		{"default endpoint: nothing rewritten", DefaultIMDSEndpoint,
			"http://169.254.169.254/metadata/identity/oauth2/token",
			"http://169.254.169.254/metadata/identity/oauth2/token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rw, err := newIMDSRewriter(tc.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			c := &capture{}
			rw.base = c
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, tc.in, nil)
			req.Header.Set("Metadata", "true")
			if _, err := rw.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			if c.got.URL.String() != tc.want {
				t.Errorf("sent to %s, want %s", c.got.URL, tc.want)
			}
			wantHost, _ := url.Parse(tc.want)
			if c.got.Host != "" && c.got.Host != wantHost.Host {
				t.Errorf("Host header %q, want %q", c.got.Host, wantHost.Host)
			}
			if c.got.Header.Get("Metadata") != "true" {
				t.Errorf("headers lost in the rewrite")
			}
			if req.URL.String() != tc.in {
				t.Errorf("the caller's request was modified: %s", req.URL)
			}
		})
	}
}

// The transport given to azidentity reaches the configured IMDS endpoint over
// the network when a request names 169.254.169.254.
func TestIMDSRewriterReachesEndpoint(t *testing.T) {
	imds := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	cfg, _ := unusedEndpoints(t)
	cfg.IMDSEndpoint = imds.srv.URL
	rec := &observetest.Recorder{}
	cfg.Observer = rec
	m := mustNew(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://169.254.169.254/metadata/identity/oauth2/token?resource=x", nil)
	resp, err := m.azTrans.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || imds.count.Load() != 1 {
		t.Fatalf("body %q, requests %d", body, imds.count.Load())
	}
	if r := imds.last(); r.URL.Path != "/metadata/identity/oauth2/token" || r.URL.Query().Get("resource") != "x" {
		t.Errorf("emulator got %s", r.URL)
	}
	if got := rec.Events("azure"); len(got) != 1 || got[0] != "imds 200" {
		t.Errorf("observed %q, want one imds request answered 200", got)
	}
}

func TestEndpointKind(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://169.254.169.254/metadata/identity/oauth2/token?resource=x", "imds"},
		{"http://169.254.169.254/metadata/instance?api-version=2021-02-01", "imds_instance"},
		{"http://127.0.0.1:2579/host/token/?resource=x", "nmi"},
		{"https://login.microsoftonline.com/tenant/oauth2/v2.0/token", "entra"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		if got := endpointKind(req); got != tc.want {
			t.Errorf("endpointKind(%s) = %q, want %q", tc.url, got, tc.want)
		}
	}
}
