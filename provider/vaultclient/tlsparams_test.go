package vaultclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// TestTLSErrorNamesTheFailingParameter: of several TLS parameters, the
// error names the one that cannot be used.
func TestTLSErrorNamesTheFailingParameter(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	badDir := filepath.Join(dir, "cas")
	if err := os.MkdirAll(badDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badDir, "ca.crt"), []byte("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tls  params.TLS
		want string
	}{
		{"CA file", params.TLS{CACertPath: garbage}, "vaultCACertPath"},
		{"CA directory", params.TLS{CADirectory: badDir}, "vaultCADirectory"},
		{"CA PEM", params.TLS{CAPEM: "not pem"}, "vaultCAPem"},
		{"client pair", params.TLS{ClientCertPath: garbage, ClientKeyPath: garbage}, "vaultTLSClientCertPath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPool(time.Second, nil).Get("https://vault.example:8200", tc.tls)
			var pe *params.Error
			if !errors.As(err, &pe) || pe.Parameter != tc.want {
				t.Fatalf("want an error naming %s, got %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "not pem") {
				t.Errorf("error repeats the PEM: %v", err)
			}
		})
	}
}
