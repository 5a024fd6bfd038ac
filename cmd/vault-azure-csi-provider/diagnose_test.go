package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/methods"
	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

func TestCheckTokenClaims(t *testing.T) {
	pod := auth.Pod{Namespace: "shop", ServiceAccount: "web"}
	const aud = "api://AzureADTokenExchange"
	good := map[string]any{"aud": []any{aud}, "sub": "system:serviceaccount:shop:web", "exp": float64(time.Now().Add(time.Hour).Unix())}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for key, val := range good {
			m[key] = val
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name    string
		token   string
		expires time.Time
		want    string // "" = valid
	}{
		{"valid", fakeJWT(t, good), time.Now().Add(time.Hour), ""},
		{"not a JWT", "opaque-token", time.Time{}, "is not a JWT"},
		{"expired", fakeJWT(t, good), time.Now().Add(-time.Minute), "expired at"},
		{"other audience", fakeJWT(t, with("aud", "vault")), time.Time{}, `has aud ["vault"], not "api://AzureADTokenExchange"`},
		{"other service account", fakeJWT(t, with("sub", "system:serviceaccount:billing:billing")), time.Time{},
			`is for "system:serviceaccount:billing:billing", but the pod runs as "system:serviceaccount:shop:web"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e, bad := checkTokenClaims(suppliedToken{path: "sa.jwt", token: tc.token, expires: tc.expires}, aud, pod)
			if tc.want == "" {
				if bad {
					t.Errorf("valid token refused: %+v", e)
				}
				return
			}
			if !bad || !strings.Contains(e.why, tc.want) || !strings.Contains(e.fix, "kubectl create token web -n shop --audience "+aud) {
				t.Errorf("got bad=%v %+v, want why containing %q and the kubectl fix", bad, e, tc.want)
			}
			if strings.Contains(e.why+e.fix, tc.token) && tc.token != "opaque-token" {
				t.Error("the explanation contains the token")
			}
		})
	}
}

func TestTokenAudience(t *testing.T) {
	workload := func(aud string) params.Params {
		return params.Params{AuthMethod: "azure", Audience: aud, MethodParams: &azure.Params{Identity: "workload"}}
	}
	tests := []struct {
		name   string
		prm    params.Params
		tokens []string
		want   string
	}{
		{"workload default", workload(""), nil, "api://AzureADTokenExchange"},
		{"workload custom", workload("x"), nil, "x"},
		{"managed uses none", params.Params{AuthMethod: "azure", MethodParams: &azure.Params{Identity: "managed"}}, []string{"vault"}, ""},
		{"kubernetes, one other token: still vault", params.Params{AuthMethod: "kubernetes"}, []string{"sts"}, "vault"},
		{"kubernetes, several", params.Params{AuthMethod: "kubernetes"}, []string{"sts", "vault"}, "vault"},
		{"jwt explicit", params.Params{AuthMethod: "jwt", Audience: "a"}, []string{"b"}, "a"},
	}
	for _, tc := range tests {
		tc.prm.ServiceAccountTokens = map[string]auth.ServiceAccountToken{}
		for _, a := range tc.tokens {
			tc.prm.ServiceAccountTokens[a] = auth.ServiceAccountToken{Token: "t"}
		}
		d := &diagnosis{mo: &mountOptions{Options: &setup.Options{}}, w: testWiring, prm: &tc.prm}
		if got := d.tokenAudience(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// testWiring has the provider's auth methods, as setup.New builds them.
var testWiring = func() *setup.Wiring {
	ms, err := methods.New(methods.Config{})
	if err != nil {
		panic(err)
	}
	return &setup.Wiring{Manager: auth.NewManager(ms, auth.Options{})}
}()

func azureDiagnosis() *diagnosis {
	return &diagnosis{
		mo: &mountOptions{Options: &setup.Options{}},
		w:  testWiring,
		prm: &params.Params{AuthMethod: "azure", AuthMountPath: "azure", RoleName: "shop-web",
			MethodParams: &azure.Params{Identity: "workload", ClientID: "0c6b8f2e-5a1d-4c3b-9e7f-1a2b3c4d5e6f", Resource: "https://management.azure.com/"},
			Pod:          auth.Pod{Namespace: "shop", ServiceAccount: "web"}},
		saClaims: map[string]any{"iss": "https://oidc.example/", "sub": "system:serviceaccount:shop:web"},
		azClaims: map[string]any{"aud": "https://management.azure.com", "tid": "t-1", "oid": "9e1f"},
	}
}

func TestExplainLogin(t *testing.T) {
	tests := []struct {
		msg     string
		why     string
		fixPart string
	}{
		{"Vault refused ... (HTTP 500: [service principal not authorized: 9e1f2a3b-4c5d]) as ...",
			"does not list the identity's object id 9e1f2a3b-4c5d", "vault write auth/azure/role/shop-web bound_service_principal_ids=9e1f2a3b-4c5d"},
		{`Vault refused ... (HTTP 400: [invalid role name "shop-web"])`, `there is no role "shop-web"`, "vault list auth/azure/role"},
		{`HTTP 500: [oidc: expected audience "https://management.azure.com/" got ["https://management.azure.com"]]`,
			"they differ only by the trailing slash", `set azureResource to "https://management.azure.com/"`},
		{"HTTP 500: [oidc: id token issued by a different provider]", "another tenant_id than the token's tid t-1", "tenant_id=t-1"},
		{"HTTP 404: [no handler for route \"auth/azure/login\"]", "no auth method is enabled at auth/azure", "vault auth enable -path=azure azure"},
		{"HTTP 500: [scale set not authorized]", "binds subscriptions, resource groups, scale sets", "bound_service_principal_ids only"},
	}
	for _, tc := range tests {
		e := azureDiagnosis().explainLogin(&auth.Error{Kind: auth.KindDenied, Err: errors.New(tc.msg)})
		if !strings.Contains(e.why, tc.why) || !strings.Contains(e.fix, tc.fixPart) {
			t.Errorf("%s:\n got %+v\nwant why %q, fix %q", tc.msg, e, tc.why, tc.fixPart)
		}
	}
}

func TestExplainServiceAccountLogin(t *testing.T) {
	d := azureDiagnosis()
	d.prm.AuthMethod, d.prm.AuthMountPath, d.prm.Audience = "jwt", "jwt", "vault"
	tests := []struct{ msg, why string }{
		{"HTTP 400: [error validating token: invalid audience (aud) claim: audience claim does not match any expected audience]", `does not accept the token's audience "vault"`},
		{"HTTP 400: [error validating claims: claim \"sub\" does not match any associated bound claim values]", `binds another service account than "system:serviceaccount:shop:web"`},
		{"HTTP 400: [error validating token: invalid subject (sub) claim]", `binds another service account than "system:serviceaccount:shop:web"`},
		{"HTTP 400: [error validating token: failed to verify id token signature]", "could not verify the service-account token"},
	}
	for _, tc := range tests {
		e := d.explainLogin(errors.New(tc.msg))
		if !strings.Contains(e.why, tc.why) {
			t.Errorf("%s:\n got %+v\nwant why %q", tc.msg, e, tc.why)
		}
	}
}
