package azure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/allow"
)

func TestPrincipal(t *testing.T) {
	tests := []struct {
		name       string
		allow      []string
		defTenant  string
		change     func(r *auth.Request)
		want       string
		wantKind   auth.Kind
		wantErrHas []string
	}{
		// Node managed identity: only for allowed namespaces, identities and Vault addresses.
		{name: "managed, allowlist empty", change: func(r *auth.Request) { az(r).Identity = IdentityManaged },
			wantKind: auth.KindConfig, wantErrHas: []string{"--allow-node-identity", "(now empty)", `namespace "shop" is not one`, "azureIdentity workload"}},
		{name: "managed, namespace not listed", allow: []string{"kube-system", "infra"}, change: func(r *auth.Request) { az(r).Identity = IdentityManaged },
			wantKind: auth.KindConfig, wantErrHas: []string{"--allow-node-identity", "(now kube-system:*,infra:*)", `namespace "shop"`}},
		{name: "managed, prefix of a listed namespace is not listed", allow: []string{"shopping"}, change: func(r *auth.Request) { az(r).Identity = IdentityManaged },
			wantKind: auth.KindConfig, wantErrHas: []string{"--allow-node-identity"}},
		{name: "managed, another identity than the namespace's", allow: []string{"shop:system"},
			change: func(r *auth.Request) { az(r).Identity = IdentityManaged }, wantKind: auth.KindConfig,
			wantErrHas: []string{`namespace "shop" may present the node's managed identities system`, "not " + clientID}},
		{name: "managed, the namespace's identity", allow: []string{"shop:" + strings.ToUpper(clientID)},
			change: func(r *auth.Request) { az(r).Identity = IdentityManaged }, want: "managed:" + clientID},
		{name: "managed, a Vault address of the class's choosing", allow: []string{"shop"},
			change: func(r *auth.Request) {
				az(r).Identity = IdentityManaged
				r.VaultAddress = "https://attacker.example:8200"
			},
			wantKind: auth.KindConfig, wantErrHas: []string{"Vault addresses the provider trusts", "https://vault.example:8200", `vaultAddress "https://attacker.example:8200"`}},
		{name: "managed, namespace listed, system-assigned", allow: []string{"infra", "shop"},
			change: func(r *auth.Request) { az(r).Identity = IdentityManaged; az(r).ClientID = "" }, want: "managed:system-assigned"},
		{name: "managed, namespace listed, user-assigned", allow: []string{"shop"},
			change: func(r *auth.Request) { az(r).Identity = IdentityManaged }, want: "managed:" + clientID},
		{name: "managed, wildcard", allow: []string{"*"},
			change: func(r *auth.Request) { az(r).Identity = IdentityManaged }, want: "managed:" + clientID},
		{name: "managed, wildcard but no namespace in the request", allow: []string{"*"},
			change:   func(r *auth.Request) { az(r).Identity = IdentityManaged; r.Pod.Namespace = "" },
			wantKind: auth.KindConfig, wantErrHas: []string{"--allow-node-identity"}},

		// Workload identity: needs a tenant and the pod's service account.
		{name: "workload, tenant from the SecretProviderClass", change: func(*auth.Request) {},
			want: "workload:" + tenantID + "/" + clientID + " as shop/web"},
		{name: "workload, tenant from the provider default", defTenant: "contoso.onmicrosoft.com",
			change: func(r *auth.Request) { az(r).TenantID = "" }, want: "workload:contoso.onmicrosoft.com/" + clientID + " as shop/web"},
		{name: "workload, SecretProviderClass tenant wins", defTenant: "contoso.onmicrosoft.com",
			change: func(*auth.Request) {}, want: "workload:" + tenantID + "/" + clientID + " as shop/web"},
		{name: "workload, no tenant", change: func(r *auth.Request) { az(r).TenantID = "" },
			wantKind: auth.KindConfig, wantErrHas: []string{"tenantID parameter", "--azure-tenant-id"}},
		{name: "workload, no service account", change: func(r *auth.Request) { r.Pod.ServiceAccount = "" },
			wantKind: auth.KindConfig, wantErrHas: []string{"podInfoOnMount"}},
		{name: "workload, no namespace", change: func(r *auth.Request) { r.Pod.Namespace = "" },
			wantKind: auth.KindConfig, wantErrHas: []string{"podInfoOnMount"}},
		{name: "workload ignores the node allowlist", allow: nil, change: func(*auth.Request) {},
			want: "workload:" + tenantID + "/" + clientID + " as shop/web"},

		// aad-pod-identity: per pod.
		{name: "podIdentity", change: func(r *auth.Request) { az(r).Identity = IdentityPodIdentity },
			want: "podIdentity:shop/web-0/uid-1:" + clientID},
		{name: "podIdentity, no client id", change: func(r *auth.Request) { az(r).Identity = IdentityPodIdentity; az(r).ClientID = "" },
			want: "podIdentity:shop/web-0/uid-1:default"},
		{name: "podIdentity, no pod name", change: func(r *auth.Request) { az(r).Identity = IdentityPodIdentity; r.Pod.Name = "" },
			wantKind: auth.KindConfig, wantErrHas: []string{"podInfoOnMount"}},

		{name: "unknown identity", change: func(r *auth.Request) { az(r).Identity = "node" },
			wantKind: auth.KindConfig, wantErrHas: []string{`"node" is not supported`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := unusedEndpoints(t)
			rules, err := allow.ParseNodeIdentities(tc.allow)
			if err != nil {
				t.Fatal(err)
			}
			cfg.NodeIdentities, cfg.NodeIdentityVault = rules, allow.Addresses{"https://vault.example:8200"}
			cfg.DefaultTenantID = tc.defTenant
			m := mustNew(t, cfg)
			req := azureRequest(IdentityWorkload)
			tc.change(req)
			got, err := m.Principal(req)
			if tc.wantErrHas == nil {
				if err != nil || got != tc.want {
					t.Fatalf("Principal = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Kind != tc.wantKind {
				t.Fatalf("Principal = %q, %v; want auth.Error kind %d", got, err, tc.wantKind)
			}
			for _, w := range tc.wantErrHas {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, err)
				}
			}
			// LoginData enforces the same rules before touching any endpoint.
			if _, lerr := m.LoginData(context.Background(), req); lerr == nil || lerr.Error() != err.Error() {
				t.Errorf("LoginData error = %v, want the Principal error", lerr)
			}
		})
	}
}

func TestPrincipalsOfDifferentPodsDiffer(t *testing.T) {
	cfg, _ := unusedEndpoints(t)
	m := mustNew(t, cfg)
	for _, identity := range []string{IdentityWorkload, IdentityPodIdentity} {
		a := azureRequest(identity)
		b := azureRequest(identity)
		b.Pod = auth.Pod{Namespace: "billing", Name: "web-0", ServiceAccount: "web"}
		pa, err1 := m.Principal(a)
		pb, err2 := m.Principal(b)
		if err1 != nil || err2 != nil || pa == pb {
			t.Errorf("%s: pods in different namespaces got principals %q and %q (%v, %v)", identity, pa, pb, err1, err2)
		}
	}
}

func TestLoginDataFailsBeforeAnyNetworkCall(t *testing.T) {
	tests := []struct {
		name     string
		change   func(r *auth.Request)
		wantKind auth.Kind
		want     []string
	}{
		{"workload without the exchange token", func(*auth.Request) {}, auth.KindCredential,
			[]string{`audience "api://AzureADTokenExchange"`, "tokenRequests"}},
		{"workload with a custom audience not supplied", func(r *auth.Request) {
			r.Audience = "api://custom-exchange"
			r.Tokens = map[string]auth.ServiceAccountToken{"api://AzureADTokenExchange": {Token: "x"}}
		}, auth.KindCredential, []string{`audience "api://custom-exchange"`, `["api://AzureADTokenExchange"]`}},
		{"workload with an expired token", func(r *auth.Request) {
			r.Tokens = map[string]auth.ServiceAccountToken{"api://AzureADTokenExchange": {Token: "x", Expires: time.Now().Add(-time.Minute)}}
		}, auth.KindCredential, []string{"expired", "requiresRepublish"}},
		{"managed outside the allowlist", func(r *auth.Request) { az(r).Identity = IdentityManaged }, auth.KindConfig,
			[]string{"--allow-node-identity"}},
		{"podIdentity without pod name", func(r *auth.Request) { az(r).Identity = IdentityPodIdentity; r.Pod.Name = "" }, auth.KindConfig,
			[]string{"podInfoOnMount"}},
		{"unknown identity", func(r *auth.Request) { az(r).Identity = "msi" }, auth.KindConfig, []string{"not supported"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, rec := unusedEndpoints(t)
			m := mustNew(t, cfg)
			req := azureRequest(IdentityWorkload)
			tc.change(req)
			data, err := m.LoginData(context.Background(), req)
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Kind != tc.wantKind {
				t.Fatalf("LoginData = %v, %v; want auth.Error kind %d", data, err, tc.wantKind)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, err)
				}
			}
			if n := rec.count.Load(); n != 0 {
				t.Errorf("%d requests reached an Azure endpoint", n)
			}
		})
	}
}

func TestCheckAudience(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		resource string
		want     []string // empty: no error
	}{
		{"exact match with slash", accessToken(t, armAud), armAud, nil},
		{"exact match custom", accessToken(t, "api://vault"), "api://vault", nil},
		{"token without slash, role with slash", accessToken(t, "https://management.azure.com"), armAud,
			[]string{`aud "https://management.azure.com"`, `azureResource is "https://management.azure.com/"`, "trailing slash", "auth/<mount>/config"}},
		{"token with slash, role without", accessToken(t, armAud), "https://management.azure.com",
			[]string{`aud "https://management.azure.com/"`, `azureResource is "https://management.azure.com"`, "trailing slash"}},
		{"no aud claim", makeJWT(t, map[string]any{"oid": "x"}), armAud, []string{`aud ""`}},
		{"not a JWT", "opaque", armAud, []string{"not a JWT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAudience(tc.token, tc.resource)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("checkAudience: %v", err)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Kind != auth.KindCredential {
				t.Fatalf("got %v, want auth.Error KindCredential", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, err)
				}
			}
		})
	}
}

func TestScopeFor(t *testing.T) {
	tests := []struct{ resource, want string }{
		{"https://management.azure.com/", "https://management.azure.com//.default"},
		{"https://management.azure.com", "https://management.azure.com/.default"},
		{"api://vault", "api://vault/.default"},
		{"https://vault.example.com/azure/", "https://vault.example.com/azure//.default"},
	}
	for _, tc := range tests {
		got := scopeFor(tc.resource)
		if got != tc.want {
			t.Errorf("scopeFor(%q) = %q, want %q", tc.resource, got, tc.want)
		}
		// azidentity (IMDS) and Entra turn a scope back into a resource by
		// removing "/.default": the audience must come back unchanged.
		if back := strings.TrimSuffix(got, "/.default"); back != tc.resource {
			t.Errorf("scopeFor(%q) maps back to %q", tc.resource, back)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"defaults", Config{}, nil},
		{"custom https authority", Config{AuthorityHost: "https://127.0.0.1:8443/", IMDSEndpoint: "http://127.0.0.1:8080", NMIEndpoint: "http://127.0.0.1:2579/host/token/"}, nil},
		{"http authority", Config{AuthorityHost: "http://127.0.0.1:8443/"}, []string{`"http://127.0.0.1:8443/"`, "must use https"}},
		{"authority without scheme", Config{AuthorityHost: "login.microsoftonline.com"}, []string{"authority host", "not a URL"}},
		{"IMDS not a URL", Config{IMDSEndpoint: "169.254.169.254"}, []string{"IMDS endpoint", "not a URL"}},
		{"NMI not a URL", Config{NMIEndpoint: "::nmi"}, []string{"NMI endpoint", "not a URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.cfg)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("New(%+v) succeeded", tc.cfg)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q: %v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "defaults" {
				c := m.cfg
				if c.IMDSEndpoint != DefaultIMDSEndpoint || c.AuthorityHost != DefaultAuthorityHost || c.NMIEndpoint != DefaultNMIEndpoint || c.Timeout != 20*time.Second {
					t.Errorf("defaults not filled in: %+v", c)
				}
				if m.httpClient.Timeout != 20*time.Second {
					t.Errorf("http client timeout = %v", m.httpClient.Timeout)
				}
			}
		})
	}
}

func TestIsPublicAuthority(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"https://login.microsoftonline.com/", true},
		{"https://login.microsoftonline.com", true},
		{"https://LOGIN.microsoftonline.com/", true},
		{"https://login.microsoftonline.us/", true},
		{"https://login.chinacloudapi.cn/", true},
		{"https://127.0.0.1:8443/", false},
		{"https://entra-emulator.test/", false},
		{"https://login.microsoftonline.com.evil.example/", false},
		{"https://proxy.example/https://login.microsoftonline.com/", false},
	}
	for _, tc := range tests {
		if got := isPublicAuthority(tc.host); got != tc.want {
			t.Errorf("isPublicAuthority(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestAzureError(t *testing.T) {
	long := strings.Repeat("AADSTS700016 ", 100)
	tests := []struct {
		name     string
		err      error
		wantKind auth.Kind
		want     string
	}{
		{"authentication failed", &azidentity.AuthenticationFailedError{}, auth.KindCredential, "getting a token: "},
		{"wrapped authentication failed", fmt.Errorf("x: %w", &azidentity.AuthenticationFailedError{}), auth.KindCredential, "getting a token: x: "},
		{"anything else is unavailability", errors.New("dial tcp 169.254.169.254:80: i/o timeout"), auth.KindUnavailable,
			"getting a token: dial tcp 169.254.169.254:80: i/o timeout"},
		{"multi-line messages become one line", errors.New("ManagedIdentityCredential: \n  RESPONSE 400\n\tbody"), auth.KindUnavailable,
			"getting a token: ManagedIdentityCredential: RESPONSE 400 body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := azureError("getting a token", tc.err)
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Kind != tc.wantKind {
				t.Fatalf("got %v, want kind %d", err, tc.wantKind)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %q, want prefix %q", err, tc.want)
			}
			if strings.ContainsAny(err.Error(), "\n\t") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	err := azureError("exchanging", errors.New(long))
	if msg := err.Error(); len(msg) != len("exchanging: ")+600+len("…") || !strings.HasSuffix(msg, "…") {
		t.Errorf("long message not cut at 600 bytes (retry.OneLine): %d bytes", len(msg))
	}
}
