package cluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadIssuerVerifiesTheKeysTokens(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"pkcs1.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"pkcs8.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		"cert.pem":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := NewIssuerFromKey("https://issuer.example/", key)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pkcs1.pem", "pkcs8.pem"} {
		iss, err := LoadIssuer("https://issuer.example/", filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if iss.KeyID() != want.KeyID() || iss.PublicKeyPEM() != want.PublicKeyPEM() {
			t.Errorf("%s: issuer key differs from the file's key", name)
		}
	}
	if _, err := LoadIssuer("https://issuer.example/", filepath.Join(dir, "cert.pem")); err == nil {
		t.Error("a certificate was accepted as an issuer key")
	}
	if _, err := NewIssuerFromKey("https://issuer.example/", nil); err == nil {
		t.Error("a nil key was accepted")
	}
}
