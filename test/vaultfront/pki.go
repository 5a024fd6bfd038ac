package vaultfront

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// secretTypePKI is the secret type of issued certificates (Vault's name).
const secretTypePKI = "pki"

// pkiBackend is the front's small dynamic secrets engine: it issues real
// X.509 certificates, signed by its own CA, under leases when the role
// says generate_lease (as Vault's pki engine, which does not by default). It implements the
// subset of Vault's PKI API that clients use to fetch a certificate:
// roles/<name>, issue/<role>, ca/pem, cert/ca, cert/<serial>.
type pkiBackend struct {
	*framework.Backend
	caCert *x509.Certificate
	caKey  crypto.Signer
	caPEM  string
}

// pkiRole is a stored role.
type pkiRole struct {
	AllowedDomains   []string      `json:"allowed_domains"`
	AllowSubdomains  bool          `json:"allow_subdomains"`
	AllowBareDomains bool          `json:"allow_bare_domains"`
	AllowGlobDomains bool          `json:"allow_glob_domains"`
	AllowAnyName     bool          `json:"allow_any_name"`
	AllowLocalhost   bool          `json:"allow_localhost"`
	AllowIPSANs      bool          `json:"allow_ip_sans"`
	KeyType          string        `json:"key_type"`
	KeyBits          int           `json:"key_bits"`
	TTL              time.Duration `json:"ttl"`
	MaxTTL           time.Duration `json:"max_ttl"`
	// GenerateLease: issued certificates get a lease (Vault's default is
	// false: a certificate is then simply valid until NotAfter).
	GenerateLease bool `json:"generate_lease"`
}

// pkiFactory creates a pki backend with a fresh CA.
func pkiFactory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := &pkiBackend{}
	var err error
	if b.caCert, b.caKey, b.caPEM, err = newPKICA("vaultfront pki CA " + conf.BackendUUID); err != nil {
		return nil, err
	}
	b.Backend = &framework.Backend{
		BackendType:  logical.TypeLogical,
		Help:         "vaultfront's small PKI engine: issues leased certificates from its own CA.",
		PathsSpecial: &logical.Paths{Unauthenticated: []string{"ca", "ca/pem", "cert/*"}},
		Paths: []*framework.Path{
			b.pathRoles(), b.pathRoleList(), b.pathIssue(), b.pathCA(), b.pathCert(),
		},
		Secrets: []*framework.Secret{{
			Type:   secretTypePKI,
			Fields: map[string]*framework.FieldSchema{"serial_number": {Type: framework.TypeString}},
			Revoke: b.revokeCert,
		}},
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, fmt.Errorf("set up pki backend: %w", err)
	}
	return b, nil
}

// pathRoles is roles/<name>: create, update, read and delete roles.
func (b *pkiBackend) pathRoles() *framework.Path {
	return &framework.Path{
		Pattern: "roles/" + framework.GenericNameRegex("name"),
		Fields: map[string]*framework.FieldSchema{
			"name":               {Type: framework.TypeString, Required: true},
			"allowed_domains":    {Type: framework.TypeCommaStringSlice},
			"allow_subdomains":   {Type: framework.TypeBool},
			"allow_bare_domains": {Type: framework.TypeBool},
			"allow_glob_domains": {Type: framework.TypeBool},
			"allow_any_name":     {Type: framework.TypeBool},
			"allow_localhost":    {Type: framework.TypeBool, Default: true},
			"allow_ip_sans":      {Type: framework.TypeBool, Default: true},
			"key_type":           {Type: framework.TypeString, Default: "ec"},
			"key_bits":           {Type: framework.TypeInt, Default: 0},
			"ttl":                {Type: framework.TypeDurationSecond},
			"max_ttl":            {Type: framework.TypeDurationSecond},
			"generate_lease":     {Type: framework.TypeBool},
		},
		ExistenceCheck: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
			r, err := b.role(ctx, req.Storage, d.Get("name").(string))
			return r != nil, err
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.CreateOperation: &framework.PathOperation{Callback: b.writeRole},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.writeRole},
			logical.ReadOperation:   &framework.PathOperation{Callback: b.readRole},
			logical.DeleteOperation: &framework.PathOperation{Callback: b.deleteRole},
		},
	}
}

// pathRoleList is LIST roles/.
func (b *pkiBackend) pathRoleList() *framework.Path {
	return &framework.Path{
		Pattern: "roles/?$",
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ListOperation: &framework.PathOperation{Callback: func(ctx context.Context,
				req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
				keys, err := req.Storage.List(ctx, "role/")
				if err != nil {
					return nil, fmt.Errorf("list roles: %w", err)
				}
				return logical.ListResponse(keys), nil
			}},
		},
	}
}

// role loads a role, or nil.
func (b *pkiBackend) role(ctx context.Context, s logical.Storage, name string) (*pkiRole, error) {
	e, err := s.Get(ctx, "role/"+name)
	if err != nil || e == nil {
		return nil, err
	}
	var r pkiRole
	if err := e.DecodeJSON(&r); err != nil {
		return nil, fmt.Errorf("decode role %q: %w", name, err)
	}
	return &r, nil
}

// writeRole stores a role from its fields.
func (b *pkiBackend) writeRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r := &pkiRole{
		AllowedDomains:   d.Get("allowed_domains").([]string),
		AllowSubdomains:  d.Get("allow_subdomains").(bool),
		AllowBareDomains: d.Get("allow_bare_domains").(bool),
		AllowGlobDomains: d.Get("allow_glob_domains").(bool),
		AllowAnyName:     d.Get("allow_any_name").(bool),
		AllowLocalhost:   d.Get("allow_localhost").(bool),
		AllowIPSANs:      d.Get("allow_ip_sans").(bool),
		KeyType:          d.Get("key_type").(string),
		KeyBits:          d.Get("key_bits").(int),
		TTL:              time.Duration(d.Get("ttl").(int)) * time.Second,
		MaxTTL:           time.Duration(d.Get("max_ttl").(int)) * time.Second,
		GenerateLease:    d.Get("generate_lease").(bool),
	}
	if _, _, _, err := keyParams(r.KeyType, r.KeyBits); err != nil {
		return logical.ErrorResponse(err.Error()), nil
	}
	if r.MaxTTL > 0 && r.TTL > r.MaxTTL {
		return logical.ErrorResponse("\"ttl\" value must be less than \"max_ttl\" value"), nil
	}
	e, err := logical.StorageEntryJSON("role/"+d.Get("name").(string), r)
	if err != nil {
		return nil, fmt.Errorf("encode role: %w", err)
	}
	if err := req.Storage.Put(ctx, e); err != nil {
		return nil, fmt.Errorf("store role: %w", err)
	}
	return nil, nil
}

// readRole returns a role's settings.
func (b *pkiBackend) readRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := b.role(ctx, req.Storage, d.Get("name").(string))
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]interface{}{
		"allowed_domains": r.AllowedDomains, "allow_subdomains": r.AllowSubdomains,
		"allow_bare_domains": r.AllowBareDomains, "allow_glob_domains": r.AllowGlobDomains,
		"allow_any_name": r.AllowAnyName, "allow_localhost": r.AllowLocalhost, "allow_ip_sans": r.AllowIPSANs,
		"key_type": r.KeyType, "key_bits": r.KeyBits, "ttl": int64(r.TTL.Seconds()),
		"max_ttl": int64(r.MaxTTL.Seconds()), "generate_lease": r.GenerateLease,
	}}, nil
}

// deleteRole removes a role.
func (b *pkiBackend) deleteRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := req.Storage.Delete(ctx, "role/"+d.Get("name").(string)); err != nil {
		return nil, fmt.Errorf("delete role: %w", err)
	}
	return nil, nil
}

// pathCA is ca (DER) and ca/pem (PEM): the CA certificate, raw.
func (b *pkiBackend) pathCA() *framework.Path {
	return &framework.Path{
		Pattern: "ca(/pem)?",
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{Callback: func(_ context.Context,
				req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
				body, ct := b.caCert.Raw, "application/pkix-cert"
				if strings.HasSuffix(req.Path, "/pem") {
					body, ct = []byte(b.caPEM), "application/pem-file"
				}
				return &logical.Response{Data: map[string]interface{}{
					logical.HTTPContentType: ct, logical.HTTPRawBody: body, logical.HTTPStatusCode: 200,
				}}, nil
			}},
		},
	}
}

// pathCert is cert/ca and cert/<serial>.
func (b *pkiBackend) pathCert() *framework.Path {
	return &framework.Path{
		Pattern: "cert/(?P<serial>[0-9A-Za-z:-]+)",
		Fields:  map[string]*framework.FieldSchema{"serial": {Type: framework.TypeString}},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{Callback: b.readCert},
		},
	}
}

// readCert answers cert/ca and cert/<serial> with the PEM and revocation time.
func (b *pkiBackend) readCert(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	serial := normalizeSerial(d.Get("serial").(string))
	if serial == "ca" {
		return &logical.Response{Data: map[string]interface{}{"certificate": b.caPEM, "revocation_time": 0}}, nil
	}
	e, err := req.Storage.Get(ctx, "certs/"+serial)
	if err != nil || e == nil {
		return nil, err
	}
	data := map[string]interface{}{"certificate": string(e.Value), "revocation_time": int64(0)}
	rev, err := req.Storage.Get(ctx, "revoked/"+serial)
	if err != nil {
		return nil, fmt.Errorf("read revocation of %s: %w", serial, err)
	}
	if rev != nil {
		var t time.Time
		if err := rev.DecodeJSON(&t); err != nil {
			return nil, fmt.Errorf("decode revocation of %s: %w", serial, err)
		}
		data["revocation_time"] = t.Unix()
		data["revocation_time_rfc3339"] = t.Format(time.RFC3339Nano)
	}
	return &logical.Response{Data: data}, nil
}

// revokeCert is the lease revocation of an issued certificate: it records
// the revocation time under the certificate's serial.
func (b *pkiBackend) revokeCert(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	serial, _ := req.Secret.InternalData["serial_number"].(string)
	if serial == "" {
		return nil, fmt.Errorf("lease has no serial number")
	}
	e, err := logical.StorageEntryJSON("revoked/"+normalizeSerial(serial), time.Now())
	if err != nil {
		return nil, fmt.Errorf("encode revocation: %w", err)
	}
	if err := req.Storage.Put(ctx, e); err != nil {
		return nil, fmt.Errorf("store revocation: %w", err)
	}
	return nil, nil
}

// normalizeSerial turns "0a:1b" into the storage form "0a-1b".
func normalizeSerial(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), ":", "-")
}
