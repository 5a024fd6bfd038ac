package cluster

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadIssuer creates an issuer from a PEM RSA private key file (PKCS #1
// "RSA PRIVATE KEY" or PKCS #8 "PRIVATE KEY"), such as the file given to
// kube-apiserver as --service-account-signing-key-file.
func LoadIssuer(issuerURL, keyFile string) (*Issuer, error) {
	key, err := ReadSigningKey(keyFile)
	if err != nil {
		return nil, err
	}
	return NewIssuerFromKey(issuerURL, key)
}

// ReadSigningKey reads a PEM RSA private key file (PKCS #1 or PKCS #8).
func ReadSigningKey(keyFile string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: reading issuer key: %w", err)
	}
	key, err := parseRSAKey(data)
	if err != nil {
		return nil, fmt.Errorf("cluster: issuer key %s: %w", keyFile, err)
	}
	return key, nil
}

func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an RSA key", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
}
