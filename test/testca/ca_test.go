package testca

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestServerCertificateVerifies(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.ServerCertificate("127.0.0.1", "login.microsoftonline.com", "management.azure.com")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		host    string
		wantErr bool
	}{
		{"ip", "127.0.0.1", false},
		{"entra", "login.microsoftonline.com", false},
		{"arm", "management.azure.com", false},
		{"other host", "graph.microsoft.com", true},
		{"other ip", "10.0.0.1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cert.Verify(x509.VerifyOptions{DNSName: tc.host, Roots: ca.Pool()})
			if (err != nil) != tc.wantErr {
				t.Fatalf("verify %s: err=%v wantErr=%v", tc.host, err, tc.wantErr)
			}
		})
	}
	again, err := ca.ServerCertificate("management.azure.com", "127.0.0.1", "login.microsoftonline.com")
	if err != nil {
		t.Fatal(err)
	}
	if again != leaf {
		t.Error("leaf for the same host set was not cached")
	}
}

func TestTLSRoundTripWithMTLS(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	srvCfg, err := ca.MTLSServerConfig("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	certPEM, keyPEM, err := ca.ClientCert("vault-client")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ca.ClientTLSConfig()
	cfg.Certificates = []tls.Certificate{pair}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "vault-client" {
		t.Fatalf("server saw client %q", body)
	}

	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}}
	if resp, err := noCert.Get("https://" + ln.Addr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("request without client certificate succeeded")
	}
}

func TestWriteCertFile(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	path, err := ca.WriteCertFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.IsCA || !strings.Contains(cert.Subject.CommonName, "test CA") {
		t.Fatalf("unexpected root %v", cert.Subject)
	}
}
