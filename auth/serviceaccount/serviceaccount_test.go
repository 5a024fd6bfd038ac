package serviceaccount

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

var _ auth.Method = Method{}

func tokens(auds ...string) map[string]auth.ServiceAccountToken {
	m := map[string]auth.ServiceAccountToken{}
	for _, a := range auds {
		m[a] = auth.ServiceAccountToken{Token: saJWT(a)}
	}
	return m
}

// saJWT is an unsigned JWT shaped like the web pod's service-account token
// for audience aud (the provider checks its claims, Vault its signature).
func saJWT(aud string) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{"sub": "system:serviceaccount:shop:web", "aud": []string{aud}, "exp": 4102444800})
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(payload) + ".c2ln"
}

func request(audience string, toks map[string]auth.ServiceAccountToken) *auth.Request {
	return &auth.Request{
		Method: auth.MethodKubernetes, MountPath: "kubernetes", Role: "db-reader", Audience: audience,
		Pod:    auth.Pod{Namespace: "shop", Name: "web-0", ServiceAccount: "web"},
		Tokens: toks,
	}
}

func TestAudienceSelection(t *testing.T) {
	tests := []struct {
		name          string
		audience      string
		tokens        map[string]auth.ServiceAccountToken
		wantPrincipal string
		wantJWT       string
		wantErr       []string
	}{
		{"explicit audience", "vault-east", tokens("vault", "vault-east"),
			"serviceaccount:shop/web (audience vault-east)", saJWT("vault-east"), nil},
		// Never "the only token the driver supplied": it may be the pod's
		// Entra exchange token, sent to whatever vaultAddress says.
		{"single other token, no audience set", "", tokens("api://AzureADTokenExchange"),
			"serviceaccount:shop/web (audience vault)", "", []string{`audience "vault"`, `["api://AzureADTokenExchange"]`, "tokenRequests"}},
		{"several tokens, default audience among them", "", tokens("api://AzureADTokenExchange", "vault"),
			"serviceaccount:shop/web (audience vault)", saJWT("vault"), nil},
		{"no tokens", "", nil, "serviceaccount:shop/web (audience vault)", "",
			[]string{"no service-account token", "tokenRequests", `{audience: "vault"}`}},
		{"explicit audience not supplied", "vault-east", tokens("vault"),
			"serviceaccount:shop/web (audience vault-east)", "", []string{`audience "vault-east"`, `["vault"]`, "tokenRequests"}},
		{"several tokens, default audience missing", "", tokens("a", "b"),
			"serviceaccount:shop/web (audience vault)", "", []string{`audience "vault"`, `["a" "b"]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := request(tc.audience, tc.tokens)
			principal, perr := Method{}.Principal(req)
			data, lerr := Method{}.LoginData(context.Background(), req)

			if tc.wantPrincipal != "" {
				if perr != nil || principal != tc.wantPrincipal {
					t.Errorf("Principal = %q, %v; want %q", principal, perr, tc.wantPrincipal)
				}
			} else if perr == nil {
				t.Errorf("Principal = %q, want an error", principal)
			}

			if tc.wantErr == nil {
				if lerr != nil {
					t.Fatalf("LoginData: %v", lerr)
				}
				if len(data) != 2 || data["role"] != "db-reader" || data["jwt"] != tc.wantJWT {
					t.Errorf("LoginData = %v, want {role: db-reader, jwt: %s}", data, tc.wantJWT)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(lerr, &ae) || ae.Kind != auth.KindCredential {
				t.Fatalf("LoginData error = %T %v, want auth.Error KindCredential", lerr, lerr)
			}
			if data != nil {
				t.Errorf("data %v returned with an error", data)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(lerr.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, lerr)
				}
			}
			if strings.Contains(lerr.Error(), "eyJ") {
				t.Errorf("error leaks a token: %v", lerr)
			}
		})
	}
}

func TestPrincipalNeedsPodInfo(t *testing.T) {
	for _, pod := range []auth.Pod{{Namespace: "shop"}, {ServiceAccount: "web"}, {}} {
		req := request("vault", tokens("vault"))
		req.Pod = pod
		_, err := Method{}.Principal(req)
		var ae *auth.Error
		if !errors.As(err, &ae) || ae.Kind != auth.KindConfig || !strings.Contains(err.Error(), "podInfoOnMount") {
			t.Errorf("pod %+v: got %v, want a KindConfig error about podInfoOnMount", pod, err)
		}
	}
}

// Two service accounts in one namespace, or one name in two namespaces, are
// different principals (the Manager keys its token cache by principal).
func TestPrincipalDistinguishesServiceAccounts(t *testing.T) {
	seen := map[string]bool{}
	for _, pod := range []auth.Pod{
		{Namespace: "shop", ServiceAccount: "web"},
		{Namespace: "shop", ServiceAccount: "batch"},
		{Namespace: "billing", ServiceAccount: "web"},
	} {
		req := request("vault", tokens("vault"))
		req.Pod = pod
		p, err := Method{}.Principal(req)
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Errorf("principal %q repeated for %+v", p, pod)
		}
		seen[p] = true
	}
}

func TestLoginDataRefusesExpiredToken(t *testing.T) {
	req := request("vault", map[string]auth.ServiceAccountToken{"vault": {Token: "old", Expires: time.Now().Add(-time.Second)}})
	_, err := Method{}.LoginData(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("got %v, want an expiry error", err)
	}
}

// TestJWTPerPod: per pod, two pods of one service account log in as two
// principals (a jwt role may bind per-pod claims), and so do two pods of one
// name over time (by UID).
func TestJWTPerPod(t *testing.T) {
	a := request("vault", tokens("vault"))
	a.Pod.UID = "uid-a"
	b := request("vault", tokens("vault"))
	b.Pod.Name, b.Pod.UID = "web-1", "uid-b"
	pa, _ := Method{PerPod: true}.Principal(a)
	pb, _ := Method{PerPod: true}.Principal(b)
	if pa == pb || pa == "" {
		t.Errorf("per pod: principals %q and %q, want two", pa, pb)
	}
	if sa, _ := (Method{}).Principal(a); sa == pa {
		t.Errorf("per service account: %q equals the per-pod principal", sa)
	}
	c := request("vault", tokens("vault"))
	c.Pod.UID = "uid-c" // web-0 again, a later pod
	if pc, _ := (Method{PerPod: true}).Principal(c); pc == pa {
		t.Error("a later pod of the same name shares the earlier one's principal")
	}
}
