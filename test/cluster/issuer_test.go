package cluster

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

type saClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	K8s      struct {
		Namespace string            `json:"namespace"`
		Pod       map[string]string `json:"pod"`
		SA        map[string]string `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

func TestServiceAccountTokenShape(t *testing.T) {
	iss, err := NewIssuer("https://oidc.cluster.test/abc")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := iss.ServiceAccountToken("team-a", "app", "api://AzureADTokenExchange", "web-0", "pod-uid-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The token must verify with the key published in the JWKS.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Headers[0].KeyID; got != iss.KeyID() || len(set.Key(got)) != 1 {
		t.Fatalf("kid %q not in JWKS", got)
	}
	var c saClaims
	if err := tok.Claims(set.Key(iss.KeyID())[0].Key, &c); err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"iss":       {c.Issuer, "https://oidc.cluster.test/abc"},
		"sub":       {c.Subject, "system:serviceaccount:team-a:app"},
		"namespace": {c.K8s.Namespace, "team-a"},
		"pod.name":  {c.K8s.Pod["name"], "web-0"},
		"pod.uid":   {c.K8s.Pod["uid"], "pod-uid-1"},
		"sa.name":   {c.K8s.SA["name"], "app"},
		"sa.uid":    {c.K8s.SA["uid"], StableUID("serviceaccount", "team-a", "app")},
	}
	for name, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", name, v[0], v[1])
		}
	}
	if len(c.Audience) != 1 || c.Audience[0] != "api://AzureADTokenExchange" {
		t.Errorf("aud = %v", c.Audience)
	}
	if c.Exp-c.Iat != 3600 || c.Nbf != c.Iat {
		t.Errorf("times iat=%d nbf=%d exp=%d", c.Iat, c.Nbf, c.Exp)
	}
}

func TestTokenValidation(t *testing.T) {
	iss, err := NewIssuer("https://oidc.cluster.test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  TokenRequest
	}{
		{"no namespace", TokenRequest{ServiceAccount: "a", Audiences: []string{"x"}, TTL: time.Hour}},
		{"no audience", TokenRequest{Namespace: "n", ServiceAccount: "a", TTL: time.Hour}},
		{"no ttl", TokenRequest{Namespace: "n", ServiceAccount: "a", Audiences: []string{"x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := iss.Token(tc.req); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
	if _, err := NewIssuer("not-a-url"); err == nil {
		t.Fatal("relative issuer URL accepted")
	}
}

func TestPublicKeyPEMAndHandler(t *testing.T) {
	iss, err := NewIssuer("https://oidc.cluster.test/cluster-1")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(iss.PublicKeyPEM()))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatal("PublicKeyPEM is not a PUBLIC KEY block")
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.Handler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/cluster-1" + DiscoveryPath: `"jwks_uri":"https://oidc.cluster.test/cluster-1/openid/v1/jwks"`,
		"/cluster-1" + JWKSPath:      `"kid":"` + iss.KeyID() + `"`,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %s (want %s)", path, resp.StatusCode, body, want)
		}
	}
}

func TestDriverTokensAttribute(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	got := DriverTokensAttribute(map[string]string{"api://AzureADTokenExchange": "t1", "vault": "t2"}, exp)
	var parsed map[string]struct {
		Token               string `json:"token"`
		ExpirationTimestamp string `json:"expirationTimestamp"`
	}
	if err := json.Unmarshal([]byte(got), &parsed); err != nil {
		t.Fatal(err)
	}
	if parsed["vault"].Token != "t2" || parsed["api://AzureADTokenExchange"].Token != "t1" {
		t.Fatalf("tokens: %s", got)
	}
	if ts := parsed["vault"].ExpirationTimestamp; ts != "2030-01-02T02:04:05Z" {
		t.Fatalf("expirationTimestamp %q", ts)
	}
}
