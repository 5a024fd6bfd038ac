package vaultfront

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func TestPKIIssue(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "pki", "pki", nil))
	must(t, s.PutPolicy("", "issuer", `path "pki/issue/web" { capabilities = ["create", "update"] }`))
	root := newClient(t, s, s.RootToken(), "")
	_, err := root.Logical().Write("pki/roles/web", map[string]interface{}{
		"allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": "1h", "generate_lease": true})
	must(t, err)
	_, err = root.Logical().Write("pki/roles/rsa", map[string]interface{}{
		"allowed_domains": []string{"example.com"}, "allow_bare_domains": true, "key_type": "rsa", "generate_lease": true})
	must(t, err)
	issuer := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"issuer"}}), "")

	tests := []struct {
		name    string
		c       *api.Client
		role    string
		cn      string
		ttl     string
		keyType string
		status  int
		wantTTL int
	}{
		{"ec subdomain", issuer, "web", "x.example.com", "10m", "ec", 0, 600},
		{"ttl capped by role max", root, "web", "a.b.example.com", "5h", "ec", 0, 3600},
		{"rsa bare domain", root, "rsa", "example.com", "", "rsa", 0, 3600},
		{"outside allowed domains", issuer, "web", "x.example.org", "", "", http.StatusBadRequest, 0},
		{"bare domain not allowed", issuer, "web", "example.com", "", "", http.StatusBadRequest, 0},
		{"unknown role", root, "nope", "x.example.com", "", "", http.StatusBadRequest, 0},
		{"policy refuses other role", issuer, "rsa", "example.com", "", "", http.StatusForbidden, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := tc.c.Logical().Write("pki/issue/"+tc.role, map[string]interface{}{"common_name": tc.cn, "ttl": tc.ttl})
			if tc.status != 0 {
				wantStatus(t, err, tc.status)
				return
			}
			must(t, err)
			if !strings.HasPrefix(sec.LeaseID, "pki/issue/"+tc.role+"/") || sec.Renewable {
				t.Errorf("lease_id %q renewable %v", sec.LeaseID, sec.Renewable)
			}
			if sec.LeaseDuration < tc.wantTTL-2 || sec.LeaseDuration > tc.wantTTL {
				t.Errorf("lease_duration %d, want %d", sec.LeaseDuration, tc.wantTTL)
			}
			checkIssued(t, sec, tc.cn, tc.keyType)
		})
	}
}

// checkIssued verifies the certificate, its key pair and its chain.
func checkIssued(t *testing.T, sec *api.Secret, cn, keyType string) {
	t.Helper()
	certPEM, _ := sec.Data["certificate"].(string)
	keyPEM, _ := sec.Data["private_key"].(string)
	if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
		t.Fatalf("key pair: %v", err)
	}
	if sec.Data["private_key_type"] != keyType {
		t.Errorf("private_key_type %v want %s", sec.Data["private_key_type"], keyType)
	}
	block, _ := pem.Decode([]byte(certPEM))
	cert, err := x509.ParseCertificate(block.Bytes)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(sec.Data["issuing_ca"].(string)))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: cn}); err != nil {
		t.Errorf("verify: %v", err)
	}
	exp, _ := sec.Data["expiration"].(json.Number).Int64()
	if exp != cert.NotAfter.Unix() {
		t.Errorf("expiration %d != NotAfter %d", exp, cert.NotAfter.Unix())
	}
	if chain, _ := sec.Data["ca_chain"].([]interface{}); len(chain) != 1 {
		t.Errorf("ca_chain %v", sec.Data["ca_chain"])
	}
}

// pkiLeaseFixture is a server with a pki mount, role "web" and an "issuer"
// policy.
type pkiLeaseFixture struct {
	s    *Server
	root *api.Client
}

func newPKILeaseFixture(t *testing.T) *pkiLeaseFixture {
	t.Helper()
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "pki", "pki", nil))
	must(t, s.PutPolicy("", "issuer", `path "pki/issue/*" { capabilities = ["update"] }`))
	root := newClient(t, s, s.RootToken(), "")
	_, err := root.Logical().Write("pki/roles/web", map[string]interface{}{"allowed_domains": "example.com", "allow_subdomains": true, "generate_lease": true})
	must(t, err)
	return &pkiLeaseFixture{s: s, root: root}
}

// issue gets a 10 minute certificate for a.example.com.
func (f *pkiLeaseFixture) issue(t *testing.T, c *api.Client) *api.Secret {
	t.Helper()
	sec, err := c.Logical().Write("pki/issue/web", map[string]interface{}{"common_name": "a.example.com", "ttl": "10m"})
	must(t, err)
	return sec
}

// revoked reports whether the engine marked the certificate revoked.
func (f *pkiLeaseFixture) revoked(t *testing.T, sec *api.Secret) bool {
	t.Helper()
	cert, err := f.root.Logical().Read("pki/cert/" + sec.Data["serial_number"].(string))
	must(t, err)
	return cert.Data["revocation_time"].(json.Number) != "0"
}

func TestPKILeases(t *testing.T) {
	f := newPKILeaseFixture(t)
	s, root := f.s, f.root

	t.Run("lookup, renew refused, revoke", func(t *testing.T) {
		sec := f.issue(t, root)
		look, err := root.Sys().Lookup(sec.LeaseID)
		must(t, err)
		if look.Data["id"] != sec.LeaseID || look.Data["renewable"] != false {
			t.Errorf("lookup = %v", look.Data)
		}
		_, err = root.Sys().Renew(sec.LeaseID, 60)
		wantStatus(t, err, http.StatusBadRequest)
		must(t, root.Sys().Revoke(sec.LeaseID))
		_, err = root.Sys().Lookup(sec.LeaseID)
		wantStatus(t, err, http.StatusBadRequest)
		if !f.revoked(t, sec) {
			t.Errorf("certificate not marked revoked")
		}
	})

	t.Run("leases die with their token", func(t *testing.T) {
		tok := createToken(t, root, &api.TokenCreateRequest{Policies: []string{"issuer"}})
		c := newClient(t, s, tok, "")
		sec := f.issue(t, c)
		must(t, c.Auth().Token().RevokeSelf(""))
		_, err := root.Sys().Lookup(sec.LeaseID)
		wantStatus(t, err, http.StatusBadRequest)
		if !f.revoked(t, sec) {
			t.Errorf("certificate not revoked with its token")
		}
	})

	t.Run("lease expiry revokes", func(t *testing.T) {
		sec, err := root.Logical().Write("pki/issue/web", map[string]interface{}{"common_name": "e.example.com", "ttl": "1s"})
		must(t, err)
		deadline := time.Now().Add(5 * time.Second)
		for !f.revoked(t, sec) {
			if time.Now().After(deadline) {
				t.Fatal("expired lease was not revoked")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("ca pem is unauthenticated", func(t *testing.T) {
		resp, err := http.Get(s.Addr() + "/v1/pki/ca/pem")
		must(t, err)
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pem-file" {
			t.Errorf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}

// TestPKIWithoutGenerateLease: as in Vault, a role without generate_lease
// issues certificates without a lease.
func TestPKIWithoutGenerateLease(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "pki", "pki", nil))
	root := newClient(t, s, s.RootToken(), "")
	_, err := root.Logical().Write("pki/roles/web", map[string]interface{}{"allowed_domains": "example.com", "allow_subdomains": true})
	must(t, err)
	sec, err := root.Logical().Write("pki/issue/web", map[string]interface{}{"common_name": "a.example.com", "ttl": "10m"})
	must(t, err)
	if sec.LeaseID != "" || sec.LeaseDuration != 0 || sec.Data["certificate"] == nil {
		t.Errorf("lease %q duration %d, certificate present %v; want a certificate without a lease", sec.LeaseID, sec.LeaseDuration, sec.Data["certificate"] != nil)
	}
	role, err := root.Logical().Read("pki/roles/web")
	must(t, err)
	if role.Data["generate_lease"] != false {
		t.Errorf("generate_lease = %v", role.Data["generate_lease"])
	}
}
