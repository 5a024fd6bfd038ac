package vaultfront

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"path"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// pathIssue is issue/<role>: a new key and certificate under a lease.
func (b *pkiBackend) pathIssue() *framework.Path {
	return &framework.Path{
		Pattern: "issue/" + framework.GenericNameRegex("role"),
		Fields: map[string]*framework.FieldSchema{
			"role":               {Type: framework.TypeString, Required: true},
			"common_name":        {Type: framework.TypeString},
			"alt_names":          {Type: framework.TypeCommaStringSlice},
			"ip_sans":            {Type: framework.TypeCommaStringSlice},
			"ttl":                {Type: framework.TypeDurationSecond},
			"format":             {Type: framework.TypeString, Default: "pem"},
			"private_key_format": {Type: framework.TypeString, Default: "der"},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{Callback: b.issueCert},
		},
	}
}

// issueCert answers issue/<role>: it checks the names against the role,
// generates a key and a certificate signed by the CA, and returns them as a
// leased secret whose TTL is the certificate's lifetime.
func (b *pkiBackend) issueCert(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	roleName := d.Get("role").(string)
	role, err := b.role(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse("unknown role: %s", roleName), nil
	}
	cn := strings.TrimSpace(d.Get("common_name").(string))
	if cn == "" {
		return logical.ErrorResponse("the common_name field is required"), nil
	}
	if !role.allows(cn) {
		return logical.ErrorResponse("common name %s not allowed by this role", cn), nil
	}
	dns := []string{cn}
	for _, n := range d.Get("alt_names").([]string) {
		if !role.allows(n) {
			return logical.ErrorResponse("subject alternate name %s not allowed by this role", n), nil
		}
		dns = append(dns, n)
	}
	var ips []net.IP
	for _, s := range d.Get("ip_sans").([]string) {
		ip := net.ParseIP(s)
		if ip == nil || !role.AllowIPSANs {
			return logical.ErrorResponse("IP Subject Alternative Names are not allowed in this role, but was provided %s", s), nil
		}
		ips = append(ips, ip)
	}
	ttl, warnings := b.certTTL(role, time.Duration(d.Get("ttl").(int))*time.Second)
	data, serial, err := b.sign(role, cn, dns, ips, ttl, d.Get("private_key_format").(string))
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, &logical.StorageEntry{Key: "certs/" + normalizeSerial(serial),
		Value: []byte(data["certificate"].(string))}); err != nil {
		return nil, fmt.Errorf("store certificate: %w", err)
	}
	if !role.GenerateLease {
		return &logical.Response{Data: data, Warnings: warnings}, nil
	}
	resp := b.Secret(secretTypePKI).Response(data, map[string]interface{}{"serial_number": serial})
	resp.Secret.TTL, resp.Secret.MaxTTL, resp.Secret.Renewable = ttl, ttl, false
	resp.Warnings = warnings
	return resp, nil
}

// certTTL picks the certificate lifetime: requested, else the role's, else
// the mount default; capped by the role's (or the mount's) max TTL.
func (b *pkiBackend) certTTL(role *pkiRole, requested time.Duration) (time.Duration, []string) {
	ttl := requested
	if ttl <= 0 {
		ttl = role.TTL
	}
	if ttl <= 0 {
		ttl = b.System().DefaultLeaseTTL()
	}
	maxTTL := role.MaxTTL
	if maxTTL <= 0 {
		maxTTL = b.System().MaxLeaseTTL()
	}
	if ttl > maxTTL {
		return maxTTL, []string{fmt.Sprintf("TTL %q is longer than permitted maxTTL %q, so maxTTL is being used",
			ttl, maxTTL)}
	}
	return ttl, nil
}

// allows reports whether the role permits the DNS name.
func (r *pkiRole) allows(name string) bool {
	name = strings.ToLower(name)
	if r.AllowAnyName || (r.AllowLocalhost && name == "localhost") {
		return true
	}
	for _, d := range r.AllowedDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "":
		case r.AllowBareDomains && name == d:
			return true
		case r.AllowSubdomains && strings.HasSuffix(name, "."+strings.TrimPrefix(d, "*.")):
			return true
		case r.AllowGlobDomains && strings.Contains(d, "*"):
			if ok, _ := path.Match(d, name); ok {
				return true
			}
		}
	}
	return false
}

// sign generates a key and a certificate for the names, signed by the CA,
// and returns the response data and the serial number.
func (b *pkiBackend) sign(role *pkiRole, cn string, dns []string, ips []net.IP, ttl time.Duration,
	keyFormat string) (map[string]interface{}, string, error) {
	key, keyPEM, keyType, err := generateKey(role.KeyType, role.KeyBits, keyFormat)
	if err != nil {
		return nil, "", err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns,
		IPAddresses:  ips,
		NotBefore:    now.Add(-30 * time.Second),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, b.caCert, key.Public(), b.caKey)
	if err != nil {
		return nil, "", fmt.Errorf("sign certificate for %s: %w", cn, err)
	}
	serialHex := formatSerial(serial)
	return map[string]interface{}{
		"certificate":      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"issuing_ca":       b.caPEM,
		"ca_chain":         []string{b.caPEM},
		"private_key":      keyPEM,
		"private_key_type": keyType,
		"serial_number":    serialHex,
		"expiration":       tmpl.NotAfter.Unix(),
	}, serialHex, nil
}

// keyParams validates a key type and size, applying Vault's defaults.
func keyParams(keyType string, bits int) (string, int, elliptic.Curve, error) {
	switch keyType {
	case "ec", "":
		curves := map[int]elliptic.Curve{0: elliptic.P256(), 224: elliptic.P224(), 256: elliptic.P256(),
			384: elliptic.P384(), 521: elliptic.P521()}
		c, ok := curves[bits]
		if !ok {
			return "", 0, nil, fmt.Errorf("unsupported bit length for EC key: %d", bits)
		}
		return "ec", c.Params().BitSize, c, nil
	case "rsa":
		switch bits {
		case 0:
			return "rsa", 2048, nil, nil
		case 2048, 3072, 4096:
			return "rsa", bits, nil, nil
		}
		return "", 0, nil, fmt.Errorf("unsupported bit length for RSA key: %d", bits)
	default:
		return "", 0, nil, fmt.Errorf("unsupported key type %q (vaultfront supports ec and rsa)", keyType)
	}
}

// generateKey makes a private key and its PEM (SEC1/PKCS#1, or PKCS#8 when
// format is "pkcs8").
func generateKey(keyType string, bits int, format string) (crypto.Signer, string, string, error) {
	typ, size, curve, err := keyParams(keyType, bits)
	if err != nil {
		return nil, "", "", err
	}
	var key crypto.Signer
	var block *pem.Block
	if typ == "ec" {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, "", "", fmt.Errorf("generate ec key: %w", err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, "", "", fmt.Errorf("marshal ec key: %w", err)
		}
		key, block = k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	} else {
		k, err := rsa.GenerateKey(rand.Reader, size)
		if err != nil {
			return nil, "", "", fmt.Errorf("generate rsa key: %w", err)
		}
		key, block = k, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	}
	if format == "pkcs8" {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, "", "", fmt.Errorf("marshal pkcs8 key: %w", err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return key, string(pem.EncodeToMemory(block)), typ, nil
}

// randomSerial returns a positive random 159-bit serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 159)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n, nil
}

// formatSerial renders a serial like Vault: colon-separated hex bytes.
func formatSerial(n *big.Int) string {
	h := hex.EncodeToString(n.Bytes())
	parts := make([]string, 0, len(h)/2)
	for i := 0; i+1 < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// newPKICA creates a self-signed ECDSA P-256 CA valid for ten years.
func newPKICA(name string) (*x509.Certificate, crypto.Signer, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, "", fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("self-sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, "", fmt.Errorf("parse CA: %w", err)
	}
	return cert, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}
