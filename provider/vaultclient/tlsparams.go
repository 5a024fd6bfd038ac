package vaultclient

import (
	"crypto/tls"
	"fmt"
	"net/http"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// tlsParameterError names the TLS parameter that Vault's client could not
// use: each parameter that is set is tried alone, so a bad CA directory is
// reported as vaultCADirectory, not as the first TLS parameter.
func tlsParameterError(p params.TLS, err error) *params.Error {
	tries := []struct {
		name  string
		value string // as shown in the message
		tc    vault.TLSConfig
	}{
		{"vaultCACertPath", quoted(p.CACertPath), vault.TLSConfig{CACert: p.CACertPath}},
		{"vaultCADirectory", quoted(p.CADirectory), vault.TLSConfig{CAPath: p.CADirectory}},
		{"vaultCAPem", pemShown(p.CAPEM), vault.TLSConfig{CACertBytes: []byte(p.CAPEM)}},
		{"vaultTLSClientCertPath", quoted(p.ClientCertPath), vault.TLSConfig{ClientCert: p.ClientCertPath, ClientKey: p.ClientKeyPath}},
	}
	for _, t := range tries {
		if t.value == "" {
			continue
		}
		cfg := &vault.Config{HttpClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}}
		if terr := cfg.ConfigureTLS(&t.tc); terr != nil {
			problem := fmt.Sprintf("%s is unusable: %v", t.value, terr)
			if t.name == "vaultTLSClientCertPath" {
				problem += " (with vaultTLSClientKeyPath: the certificate and key must be PEM files that belong together)"
			}
			return &params.Error{Parameter: t.name, Problem: problem}
		}
	}
	return &params.Error{Parameter: "TLS parameters", Problem: fmt.Sprintf("cannot be used together: %v", err)}
}

// pemShown describes a PEM parameter without repeating it.
func pemShown(pem string) string {
	if pem == "" {
		return ""
	}
	return fmt.Sprintf("(%d bytes of PEM)", len(pem))
}

func quoted(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("%q", s)
}
