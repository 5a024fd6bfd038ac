package azure

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

func TestProxyServerName(t *testing.T) {
	// Vectors computed apart from this code (Python's hashlib and
	// base64.b32hexencode), so a mistake in the encoding shows.
	for id, want := range map[string]string{
		"6a9e0c44b1d24e3f":         "a33u2uhu2hv8qmihk5p3iclriafcn4i3l12jcmmjjqn3onlv1ge6g.ests.aks",
		"655a6f2a8e1a2d0001c0ffee": "abodvfhqnaoo3bpuctdfltfjmka7kv2d0hecm1b2vobd09eq091q0.ests.aks",
	} {
		if got := ProxyServerName(id); got != want {
			t.Errorf("ProxyServerName(%q) = %q, want %q", id, got, want)
		}
		if label := strings.TrimSuffix(ProxyServerName(id), ".ests.aks"); len(label) > 63 {
			t.Errorf("label %q is longer than a DNS label", label)
		}
	}
}

func TestClusterIDOf(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"kubernetes", "kubernetes.default.svc", "hcp-kubernetes.6a9e0c44b1d24e3f.svc.cluster.local"}, "6a9e0c44b1d24e3f"},
		{[]string{"kubernetes.default.svc", "localhost"}, ""},
		{[]string{"hcp-kubernetes..svc.cluster.local"}, ""},
		{[]string{"hcp-kubernetes.a.b.svc.cluster.local"}, ""},
	} {
		got, ok := ClusterIDOf(&x509.Certificate{DNSNames: tc.names})
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ClusterIDOf(%v) = %q, %v; want %q", tc.names, got, ok, tc.want)
		}
	}
}

func TestIdentityBindingParameters(t *testing.T) {
	m := mustNew(t, Config{})
	for _, tc := range []struct {
		name    string
		attrs   map[string]string
		want    string // identity, or "" for an error
		wantErr string
	}{
		{"azureIdentity", map[string]string{"azureIdentity": "identityBinding", "clientID": clientID}, IdentityBinding, ""},
		{"Azure's parameter", map[string]string{"useAzureTokenProxy": "true", "clientID": clientID}, IdentityBinding, ""},
		{"both, agreeing", map[string]string{"useAzureTokenProxy": "true", "azureIdentity": "identityBinding", "clientID": clientID}, IdentityBinding, ""},
		{"proxy off", map[string]string{"useAzureTokenProxy": "false", "clientID": clientID}, IdentityWorkload, ""},
		{"conflict", map[string]string{"useAzureTokenProxy": "true", "azureIdentity": "managed"}, "", "useAzureTokenProxy"},
		{"not a bool", map[string]string{"useAzureTokenProxy": "yes please", "clientID": clientID}, "", "useAzureTokenProxy"},
		{"no clientID", map[string]string{"azureIdentity": "identityBinding"}, "", "identity-binding create"},
		{"VM metadata", map[string]string{"azureIdentity": "identityBinding", "clientID": clientID, "azureVMMetadata": "true"}, "", "azureVMMetadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := m.ParseParameters(tc.attrs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error naming %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.(*Params).Identity; got != tc.want {
				t.Fatalf("identity %q, want %q", got, tc.want)
			}
		})
	}
	req := azureRequest(IdentityBinding)
	if aud := m.TokenAudience(req); aud != IdentityBindingAudience {
		t.Errorf("audience %q, want %q", aud, IdentityBindingAudience)
	}
	if ok, _ := m.ProvenByToken(req); !ok {
		t.Error("an identity binding is granted for the pod's own token: it must count as proven")
	}
	wi, _ := m.Principal(azureRequest(IdentityWorkload))
	ib, _ := m.Principal(req)
	if wi == ib || !strings.HasPrefix(ib, "identityBinding:") {
		t.Errorf("principals %q and %q: an identity binding is another login than workload identity", wi, ib)
	}
}

// fakeProxy is an AKS token proxy on 127.0.0.1: TLS with a certificate for
// its server name and the API server's names, the Entra paths the
// credential asks for, and a settable answer to token requests.
type fakeProxy struct {
	srv    *httptest.Server
	caFile string
	mu     sync.Mutex
	status int    // answer to token requests
	sni    string // server name the last request came with
	path   string // path of the last token request
	form   map[string]string
}

func newFakeProxy(t *testing.T, clusterID string) *fakeProxy {
	t.Helper()
	p := &fakeProxy{status: http.StatusOK}
	caCert, caKey := selfSignedCA(t)
	p.caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf := leafCert(t, caCert, caKey, []string{ProxyServerName(clusterID), "kubernetes.default.svc", "hcp-kubernetes." + clusterID + ".svc.cluster.local"})
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sni = r.TLS.ServerName
	base := "https://" + r.Host + "/" + tenantID
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
		_ = json.NewEncoder(w).Encode(map[string]string{
			"token_endpoint": base + "/oauth2/v2.0/token", "authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"issuer": "https://login.microsoftonline.com/" + tenantID + "/v2.0",
		})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
		_ = r.ParseForm()
		p.path, p.form = r.URL.Path, map[string]string{}
		for k := range r.PostForm {
			p.form[k] = r.PostForm.Get(k)
		}
		w.WriteHeader(p.status)
		if p.status != http.StatusOK {
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "forbidden", "error_description": "serviceaccount shop/web may not use-managed-identity"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": proxyAccessToken})
	default:
		http.NotFound(w, r)
	}
}

// proxyAccessToken is what the fake proxy answers token requests with.
var proxyAccessToken string

func TestIdentityBindingThroughProxy(t *testing.T) {
	const clusterID = "6a9e0c44b1d24e3f"
	proxy := newFakeProxy(t, clusterID)
	proxyAccessToken = accessToken(t, armAud)
	cfg, _ := unusedEndpoints(t)
	saToken := makeJWT(t, map[string]any{"sub": "system:serviceaccount:shop:web", "aud": IdentityBindingAudience, "exp": time.Now().Add(time.Hour).Unix()})
	request := func() *auth.Request {
		req := azureRequest(IdentityBinding)
		req.Tokens = map[string]auth.ServiceAccountToken{IdentityBindingAudience: {Token: saToken}}
		return req
	}
	login := func(t *testing.T, pc TokenProxyConfig, req *auth.Request) (map[string]any, error) {
		t.Helper()
		c := cfg
		c.TokenProxy = pc
		return mustNew(t, c).LoginData(t.Context(), req)
	}
	pc := TokenProxyConfig{URL: proxy.srv.URL, CAFile: proxy.caFile}

	t.Run("server name derived from the cluster id", func(t *testing.T) {
		data, err := login(t, pc, request())
		if err != nil {
			t.Fatal(err)
		}
		if data["jwt"] != proxyAccessToken {
			t.Fatal("the login does not carry the proxy's token")
		}
		proxy.mu.Lock()
		defer proxy.mu.Unlock()
		if proxy.sni != ProxyServerName(clusterID) {
			t.Errorf("proxy saw server name %q, want %q", proxy.sni, ProxyServerName(clusterID))
		}
		if proxy.path != "/"+tenantID+"/oauth2/v2.0/token" || proxy.form["client_assertion"] != saToken ||
			proxy.form["client_id"] != clientID || !strings.Contains(" "+proxy.form["scope"]+" ", " "+armAud+"/.default ") {
			t.Errorf("token request %s %v is not the identity's exchange", proxy.path, proxy.form)
		}
	})
	t.Run("wrong server name", func(t *testing.T) {
		c := pc
		c.ServerName = "a0000.ests.aks"
		_, err := login(t, c, request())
		if err == nil || !strings.Contains(err.Error(), "--azure-token-proxy-server-name") || !strings.Contains(err.Error(), "a0000.ests.aks") {
			t.Fatalf("want the server-name fix, got %v", err)
		}
	})
	t.Run("another CA", func(t *testing.T) {
		other, _ := selfSignedCA(t)
		c := pc
		c.CAFile = filepath.Join(t.TempDir(), "other.crt")
		_ = os.WriteFile(c.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Raw}), 0o600)
		c.ServerName = ProxyServerName(clusterID)
		_, err := login(t, c, request())
		if err == nil || !strings.Contains(err.Error(), "--azure-token-proxy-ca-file") {
			t.Fatalf("want the CA fix, got %v", err)
		}
	})
	t.Run("RBAC refusal", func(t *testing.T) {
		proxy.mu.Lock()
		proxy.status = http.StatusForbidden
		proxy.mu.Unlock()
		defer func() { proxy.mu.Lock(); proxy.status = http.StatusOK; proxy.mu.Unlock() }()
		_, err := login(t, pc, request())
		for _, want := range []string{"use-managed-identity", "cid.wi.aks.azure.com", clientID, "system:serviceaccount:shop:web"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want the RBAC rule (%s) named, got %v", want, err)
			}
		}
	})
	t.Run("no token for the audience", func(t *testing.T) {
		req := request()
		req.Tokens = map[string]auth.ServiceAccountToken{WorkloadAudience: {Token: saToken}}
		_, err := login(t, pc, req)
		if err == nil || !strings.Contains(err.Error(), IdentityBindingAudience) {
			t.Fatalf("want the missing audience named, got %v", err)
		}
	})
	t.Run("not an AKS API server", func(t *testing.T) {
		plain := httptest.NewTLSServer(http.NotFoundHandler())
		defer plain.Close()
		caFile := filepath.Join(t.TempDir(), "ca.crt")
		_ = os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: plain.Certificate().Raw}), 0o600)
		_, err := login(t, TokenProxyConfig{URL: plain.URL, CAFile: caFile}, request())
		if err == nil || !strings.Contains(err.Error(), "no AKS cluster id") {
			t.Fatalf("want the missing cluster id explained, got %v", err)
		}
	})
}

func TestTokenProxyURLChecked(t *testing.T) {
	for _, u := range []string{"http://kubernetes.default.svc", "https://user@kubernetes.default.svc", "https://k/?q=1", "not a url"} {
		if _, err := New(Config{TokenProxy: TokenProxyConfig{URL: u}}); err == nil {
			t.Errorf("token proxy URL %q accepted", u)
		}
	}
	if _, err := New(Config{TokenProxy: TokenProxyConfig{ServerName: "https://a.ests.aks"}}); err == nil {
		t.Error("a server name with a scheme accepted")
	}
}

func selfSignedCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func leafCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: names, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
