package vaultfront

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/hashicorp/vault/api"
)

// jwtSigner signs test JWTs with an RSA key.
type jwtSigner struct {
	key    *rsa.PrivateKey
	pubPEM string
}

func newJWTSigner(t *testing.T) *jwtSigner {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	must(t, err)
	return &jwtSigner{key: key, pubPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

// sign returns a compact RS256 JWT with standard claims plus extra.
func (j *jwtSigner) sign(t *testing.T, sub, aud string, ttl time.Duration) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: j.key},
		(&jose.SignerOptions{}).WithType("JWT"))
	must(t, err)
	now := time.Now()
	payload, err := json.Marshal(map[string]interface{}{
		"iss": "https://issuer.test", "sub": sub, "aud": aud,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(ttl).Unix(),
	})
	must(t, err)
	obj, err := signer.Sign(payload)
	must(t, err)
	tok, err := obj.CompactSerialize()
	must(t, err)
	return tok
}

// newJWTServer returns a server with jwt auth at auth/jwt and auth/kubernetes
// (both the jwt plugin) configured with the signer's key and a role "app"
// granting policy "app", plus kv v2 secrets at secret/data/app/db and
// secret/data/other/db.
func newJWTServer(t *testing.T) (*Server, *api.Client, *jwtSigner) {
	t.Helper()
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "secret", "kv", map[string]string{"version": "2"}))
	must(t, s.EnableAuth("", "jwt", "jwt"))
	must(t, s.EnableAuth("", "kubernetes", "jwt"))
	must(t, s.PutPolicy("", "app", `path "secret/data/app/*" { capabilities = ["read"] }`))
	root := newClient(t, s, s.RootToken(), "")
	for _, p := range []string{"secret/data/app/db", "secret/data/other/db"} {
		_, err := root.Logical().Write(p, map[string]interface{}{"data": map[string]interface{}{"pw": p}})
		must(t, err)
	}
	signer := newJWTSigner(t)
	for _, mount := range []string{"jwt", "kubernetes"} {
		_, err := root.Logical().Write("auth/"+mount+"/config", map[string]interface{}{
			"jwt_validation_pubkeys": []string{signer.pubPEM}})
		must(t, err)
		_, err = root.Logical().Write("auth/"+mount+"/role/app", map[string]interface{}{
			"role_type": "jwt", "bound_audiences": []string{"vault-test"}, "user_claim": "sub",
			"token_policies": []string{"app"}, "token_ttl": "20m", "token_max_ttl": "1h"})
		must(t, err)
	}
	return s, root, signer
}

func TestJWTLogin(t *testing.T) {
	s, _, signer := newJWTServer(t)
	tests := []struct {
		name   string
		mount  string
		aud    string
		ttl    time.Duration
		status int
	}{
		{"jwt login", "jwt", "vault-test", time.Minute, 0},
		{"kubernetes stand-in login", "kubernetes", "vault-test", time.Minute, 0},
		{"wrong audience", "jwt", "someone-else", time.Minute, http.StatusBadRequest},
		{"expired token", "jwt", "vault-test", -time.Minute, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, s, "", "")
			sec, err := c.Logical().Write("auth/"+tc.mount+"/login", map[string]interface{}{
				"role": "app", "jwt": signer.sign(t, "alice", tc.aud, tc.ttl)})
			if tc.status != 0 {
				wantStatus(t, err, tc.status)
				return
			}
			must(t, err)
			a := sec.Auth
			if a == nil || a.ClientToken == "" || a.LeaseDuration != 1200 || !a.Renewable || a.EntityID == "" ||
				strings.Join(a.Policies, ",") != "app,default" {
				t.Fatalf("auth = %+v", a)
			}
			c.SetToken(a.ClientToken)
			if _, err := c.Logical().Read("secret/data/app/db"); err != nil {
				t.Errorf("allowed read: %v", err)
			}
			_, err = c.Logical().Read("secret/data/other/db")
			wantStatus(t, err, http.StatusForbidden)
			renewed, err := c.Auth().Token().RenewSelf(3000)
			must(t, err)
			if d := renewed.Auth.LeaseDuration; d < 2990 || d > 3000 {
				t.Errorf("renewed lease_duration %d", d)
			}
			look, err := c.Auth().Token().LookupSelf()
			must(t, err)
			if look.Data["path"] != "auth/"+tc.mount+"/login" || look.Data["display_name"] != tc.mount+"-alice" {
				t.Errorf("lookup = %v", look.Data)
			}
		})
	}
}

func TestJWTRenewalAsksBackend(t *testing.T) {
	s, root, signer := newJWTServer(t)
	t.Run("role deleted: renewal refused", func(t *testing.T) {
		c := newClient(t, s, "", "")
		sec, err := c.Logical().Write("auth/jwt/login", map[string]interface{}{
			"role": "app", "jwt": signer.sign(t, "bob", "vault-test", time.Minute)})
		must(t, err)
		c.SetToken(sec.Auth.ClientToken)
		_, err = root.Logical().Delete("auth/jwt/role/app")
		must(t, err)
		_, err = c.Auth().Token().RenewSelf(0)
		wantStatus(t, err, http.StatusInternalServerError)
	})
}

func TestAzureAuthConfig(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableAuth("", "azure", "azure"))
	root := newClient(t, s, s.RootToken(), "")
	_, err := root.Logical().Write("auth/azure/config", map[string]interface{}{
		"tenant_id": "00000000-0000-0000-0000-0000000000aa", "resource": "https://management.azure.com/",
		"client_id": "11111111-1111-1111-1111-111111111111", "client_secret": "shh"})
	must(t, err)
	conf, err := root.Logical().Read("auth/azure/config")
	must(t, err)
	if conf.Data["tenant_id"] != "00000000-0000-0000-0000-0000000000aa" || conf.Data["resource"] != "https://management.azure.com/" {
		t.Errorf("config = %v", conf.Data)
	}
	const oid = "22222222-2222-2222-2222-222222222222"
	_, err = root.Logical().Write("auth/azure/role/csi", map[string]interface{}{
		"bound_service_principal_ids": []string{oid}, "token_policies": []string{"app"}, "token_ttl": "1h"})
	must(t, err)
	role, err := root.Logical().Read("auth/azure/role/csi")
	must(t, err)
	ids, _ := role.Data["bound_service_principal_ids"].([]interface{})
	if len(ids) != 1 || ids[0] != oid {
		t.Errorf("role = %v", role.Data)
	}
	list, err := root.Logical().List("auth/azure/role")
	must(t, err)
	if keys, _ := list.Data["keys"].([]interface{}); len(keys) != 1 {
		t.Errorf("roles = %v", list.Data)
	}
	// Enabled over HTTP as well.
	must(t, root.Sys().EnableAuthWithOptions("azure2", &api.EnableAuthOptions{Type: "azure"}))
	_, err = root.Logical().Write("auth/azure2/role/x", map[string]interface{}{"bound_service_principal_ids": oid})
	must(t, err)
	// A login without a token reaches the plugin (unauthenticated path) and is
	// refused with the plugin's own message.
	_, err = newClient(t, s, "", "").Logical().Write("auth/azure/login", map[string]interface{}{"role": "csi"})
	wantStatus(t, err, http.StatusBadRequest)
}

func TestConcurrentLoginsAndReads(t *testing.T) {
	s, _, signer := newJWTServer(t)
	const n = 100
	jwts := make([]string, n)
	clients := make([]*api.Client, n)
	for i := range jwts {
		jwts[i] = signer.sign(t, "user"+string(rune('a'+i%26)), "vault-test", time.Minute)
		clients[i] = newClient(t, s, "", "")
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(c *api.Client, jwt string) {
			defer wg.Done()
			sec, err := c.Logical().Write("auth/jwt/login", map[string]interface{}{"role": "app", "jwt": jwt})
			if err != nil {
				errs <- err
				return
			}
			c.SetToken(sec.Auth.ClientToken)
			if _, err := c.Logical().Read("secret/data/app/db"); err != nil {
				errs <- err
			}
		}(clients[i], jwts[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := s.Stats(); st.Logins != n || st.Reads != n {
		t.Errorf("stats = %d logins, %d reads", st.Logins, st.Reads)
	}
}
