package azureemu

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestEntraDiscovery(t *testing.T) {
	te := newTestEnv(t)
	base := te.emu.AuthorityURL()
	host := strings.TrimSuffix(strings.TrimPrefix(base, "https://"), "/")
	tests := []struct {
		path       string
		wantStatus int
		want       []string
	}{
		{tTenant + "/.well-known/openid-configuration", 200,
			[]string{`"issuer":"https://sts.windows.net/` + tTenant + `/"`, `"jwks_uri":"https://` + host + `/common/discovery/keys"`}},
		{tTenant + "/v2.0/.well-known/openid-configuration", 200,
			[]string{`"token_endpoint":"https://` + host + `/` + tTenant + `/oauth2/v2.0/token"`, `"issuer":"https://login.microsoftonline.com/` + tTenant + `/v2.0"`}},
		{"common/discovery/keys", 200, []string{`"kty":"RSA"`, `"use":"sig"`}},
		{"common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/x/oauth2/v2.0/authorize", 200,
			[]string{`"tenant_discovery_endpoint":"https://login.microsoftonline.com/` + tTenant + `/v2.0/.well-known/openid-configuration"`}},
		{"other-tenant/.well-known/openid-configuration", 400, []string{"AADSTS90002", `"error":"invalid_tenant"`}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			status, body := te.do(t, http.MethodGet, base+tc.path, nil, nil)
			if status != tc.wantStatus {
				t.Fatalf("status %d want %d: %s", status, tc.wantStatus, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %s: %s", w, body)
				}
			}
		})
	}
}

func TestEntraClientSecret(t *testing.T) {
	te := newTestEnv(t)
	te.emu.AddClientSecret("app-1", "s3cret")
	tokenURL := te.emu.AuthorityURL() + tTenant + "/oauth2/v2.0/token"
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantAud    string
		wantErr    string
	}{
		{"double slash scope keeps slash", form("client_id", "app-1", "client_secret", "s3cret", "scope", "https://management.azure.com//.default openid"), 200, "https://management.azure.com/", ""},
		{"single slash scope", form("client_id", "app-1", "client_secret", "s3cret", "scope", "https://management.azure.com/.default"), 200, "https://management.azure.com", ""},
		{"wrong secret", form("client_id", "app-1", "client_secret", "nope", "scope", "x/.default"), 401, "", "AADSTS7000215"},
		{"unknown app", form("client_id", "app-2", "client_secret", "s3cret", "scope", "x/.default"), 400, "", "AADSTS700016"},
		{"scope without .default", form("client_id", "app-1", "client_secret", "s3cret", "scope", "https://management.azure.com/"), 400, "", "AADSTS1002012"},
		{"no credential", form("client_id", "app-1", "scope", "x/.default"), 401, "", "AADSTS7000218"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := te.do(t, http.MethodPost, tokenURL, nil, tc.form)
			if status != tc.wantStatus {
				t.Fatalf("status %d want %d: %s", status, tc.wantStatus, body)
			}
			if tc.wantErr != "" {
				if !strings.Contains(field(t, body, "error_description"), tc.wantErr) || field(t, body, "correlation_id") == "" {
					t.Fatalf("error body %s", body)
				}
				return
			}
			c := claimsOf(t, field(t, body, "access_token"))
			if c["aud"] != tc.wantAud || c["appid"] != "app-1" || c["appidacr"] != "1" || c["oid"] == "" {
				t.Fatalf("claims %v", c)
			}
		})
	}
	// The v1 endpoint takes a resource instead of a scope.
	status, body := te.do(t, http.MethodPost, te.emu.AuthorityURL()+tTenant+"/oauth2/token", nil,
		form("client_id", "app-1", "client_secret", "s3cret", "resource", "https://vault.azure.net"))
	if status != 200 || field(t, body, "resource") != "https://vault.azure.net" {
		t.Fatalf("v1 token: %d %s", status, body)
	}
}

func TestARM(t *testing.T) {
	te := newTestEnv(t)
	good, err := te.emu.MintAccessToken(TokenOptions{Identity: tSystem, Audience: "https://management.azure.com"})
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := te.emu.MintAccessToken(TokenOptions{Identity: tSystem, Audience: "https://management.azure.com/", SignWithForeignKey: true})
	vault, _ := te.emu.MintAccessToken(TokenOptions{Identity: tSystem, Audience: "https://vault.azure.net"})
	expired, _ := te.emu.MintAccessToken(TokenOptions{Identity: tSystem, Audience: "https://management.azure.com/",
		NotBefore: time.Now().Add(-3 * time.Hour), TTL: -time.Hour})
	rg := te.emu.ARMURL() + "/subscriptions/" + tSub + "/resourceGroups/" + tRG
	tests := []struct {
		name       string
		url        string
		token      string
		wantStatus int
		want       string
	}{
		{"vmss", rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss?api-version=2022-11-01", good, 200, `"principalId":"` + tSystem.ObjectID + `"`},
		{"vmss user assigned", rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss?api-version=2022-11-01", good, 200, `"clientId":"` + tKubelet.ClientID + `"`},
		{"vm of uniform vmss is not a VM", rg + "/providers/Microsoft.Compute/virtualMachines/aks-pool-vmss_3?api-version=2022-11-01", good, 404, "ResourceNotFound"},
		{"instance by id", rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss/virtualMachines/3?api-version=2024-07-01", good, 200, `"vmId"`},
		{"wrong resource group", te.emu.ARMURL() + "/subscriptions/" + tSub + "/resourceGroups/other/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss?api-version=2022-11-01", good, 404, "ResourceGroupNotFound"},
		{"wrong subscription", te.emu.ARMURL() + "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/x?api-version=1", good, 404, "SubscriptionNotFound"},
		{"identity", rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kubelet?api-version=2024-11-30", good, 200, `"principalId":"` + tKubelet.ObjectID + `"`},
		{"identity list", rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2024-11-30", good, 200, `"value":[{`},
		{"provider", te.emu.ARMURL() + "/subscriptions/" + tSub + "/providers/Microsoft.Compute?api-version=2021-04-01", good, 200, `"virtualMachineScaleSets/virtualMachines"`},
		{"no token", rg + "?api-version=1", "", 401, "AuthenticationFailed"},
		{"foreign key", rg + "?api-version=1", foreign, 401, "InvalidAuthenticationToken"},
		{"wrong audience", rg + "?api-version=1", vault, 401, "InvalidAuthenticationTokenAudience"},
		{"expired", rg + "?api-version=1", expired, 401, "ExpiredAuthenticationToken"},
		{"no api-version", rg, good, 400, "MissingApiVersionParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.token != "" {
				hdr["Authorization"] = "Bearer " + tc.token
			}
			status, body := te.do(t, http.MethodGet, tc.url, hdr, nil)
			if status != tc.wantStatus || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d (want %d) body %s (want %s)", status, tc.wantStatus, body, tc.want)
			}
		})
	}
	if n := te.emu.Counts()[KindARM]; n != int64(len(tests)) {
		t.Fatalf("arm count %d want %d", n, len(tests))
	}
}
