package azureemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vaultazure/vault-azure-csi-provider/test/testca"
)

const (
	tTenant = "8e2b6c1a-0d3f-4a5b-9c7d-1e2f3a4b5c6d"
	tSub    = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	tRG     = "MC_rg_aks_westeurope"
)

var (
	tSystem  = Identity{ClientID: "11111111-aaaa-4aaa-8aaa-000000000001", ObjectID: "22222222-bbbb-4bbb-8bbb-000000000001"}
	tKubelet = Identity{
		ClientID: "11111111-aaaa-4aaa-8aaa-000000000002", ObjectID: "22222222-bbbb-4bbb-8bbb-000000000002", Name: "kubelet",
		ResourceID: "/subscriptions/" + tSub + "/resourcegroups/" + tRG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kubelet",
	}
)

// testEnv is an emulator with a node and a client that trusts its CA.
type testEnv struct {
	emu    *Emulator
	client *http.Client
}

func newTestEnv(t *testing.T) testEnv {
	t.Helper()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	emu, err := New(Config{TenantID: tTenant, CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	emu.AddIdentity(tKubelet)
	sys := tSystem
	emu.SetVM(VM{SubscriptionID: tSub, ResourceGroup: tRG, Name: "aks-pool-vmss_3", VMSSName: "aks-pool-vmss",
		SystemIdentity: &sys, UserAssigned: []string{tKubelet.ClientID}})
	tr := &http.Transport{TLSClientConfig: ca.ClientTLSConfig(), Proxy: nil}
	return testEnv{emu: emu, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// do sends a request and returns status and body.
func (te testEnv) do(t *testing.T, method, rawURL string, hdr map[string]string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := te.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

// claimsOf decodes a token's claims without verification.
func claimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	var m map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func field(t *testing.T, body, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	s, _ := m[name].(string)
	return s
}

func TestIMDSToken(t *testing.T) {
	te := newTestEnv(t)
	meta := map[string]string{"Metadata": "true"}
	base := te.emu.IMDSURL() + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
	tests := []struct {
		name       string
		query      string
		hdr        map[string]string
		wantStatus int
		wantOID    string
		wantAud    string
		wantMIRID  string
	}{
		{"system identity keeps slash", url.QueryEscape("https://management.azure.com/"), meta, 200, tSystem.ObjectID,
			"https://management.azure.com/", "/subscriptions/" + tSub + "/resourcegroups/" + tRG + "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss"},
		{"no slash echoed", url.QueryEscape("https://management.azure.com"), meta, 200, tSystem.ObjectID, "https://management.azure.com", ""},
		{"user assigned by client id", url.QueryEscape("https://vault.azure.net") + "&client_id=" + tKubelet.ClientID, meta, 200, tKubelet.ObjectID, "https://vault.azure.net", tKubelet.ResourceID},
		{"user assigned by resource id", url.QueryEscape("https://storage.azure.com/") + "&msi_res_id=" + url.QueryEscape(tKubelet.ResourceID), meta, 200, tKubelet.ObjectID, "https://storage.azure.com/", tKubelet.ResourceID},
		// An app's own audience is not first-party: no xms_mirid.
		{"custom audience", "api://vault-app&client_id=" + tKubelet.ClientID, meta, 200, tKubelet.ObjectID, "api://vault-app", "-"},
		{"user assigned by object id", "r3&object_id=" + tKubelet.ObjectID, meta, 200, tKubelet.ObjectID, "r3", ""},
		{"unknown identity", "r4&client_id=99999999-0000-4000-8000-000000000000", meta, 400, "", "", ""},
		{"missing metadata header", "r5", nil, 400, "", "", ""},
		{"missing resource", "", meta, 400, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := te.do(t, http.MethodGet, base+tc.query, tc.hdr, nil)
			if status != tc.wantStatus {
				t.Fatalf("status %d want %d: %s", status, tc.wantStatus, body)
			}
			if status != 200 {
				if field(t, body, "error") != "invalid_request" {
					t.Fatalf("error body %s", body)
				}
				return
			}
			c := claimsOf(t, field(t, body, "access_token"))
			if c["oid"] != tc.wantOID || c["aud"] != tc.wantAud || field(t, body, "resource") != tc.wantAud {
				t.Fatalf("oid=%v aud=%v body=%s", c["oid"], c["aud"], body)
			}
			if tc.wantMIRID == "-" {
				if mirid, ok := c["xms_mirid"]; ok {
					t.Fatalf("xms_mirid=%v in a token for %s", mirid, tc.wantAud)
				}
			} else if tc.wantMIRID != "" && c["xms_mirid"] != tc.wantMIRID {
				t.Fatalf("xms_mirid=%v want %s", c["xms_mirid"], tc.wantMIRID)
			}
			if c["iss"] != "https://sts.windows.net/"+tTenant+"/" || c["tid"] != tTenant || field(t, body, "token_type") != "Bearer" {
				t.Fatalf("claims %v", c)
			}
		})
	}
}

func TestIMDSInstance(t *testing.T) {
	te := newTestEnv(t)
	meta := map[string]string{"Metadata": "true"}
	status, body := te.do(t, http.MethodGet, te.emu.IMDSURL()+"/metadata/instance?api-version=2021-02-01", meta, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var doc struct {
		Compute map[string]string `json:"compute"`
	}
	_ = json.Unmarshal([]byte(body), &doc)
	want := map[string]string{
		"subscriptionId": tSub, "resourceGroupName": tRG, "name": "aks-pool-vmss_3", "vmScaleSetName": "aks-pool-vmss",
		"resourceId": "/subscriptions/" + tSub + "/resourceGroups/" + tRG + "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-vmss/virtualMachines/3",
	}
	for k, v := range want {
		if doc.Compute[k] != v {
			t.Errorf("compute.%s = %q want %q", k, doc.Compute[k], v)
		}
	}
	status, body = te.do(t, http.MethodGet, te.emu.IMDSURL()+"/metadata/instance/compute/vmScaleSetName?api-version=2021-02-01&format=text", meta, nil)
	if status != 200 || body != "aks-pool-vmss" {
		t.Fatalf("text leaf: %d %q", status, body)
	}
	if status, _ := te.do(t, http.MethodGet, te.emu.IMDSURL()+"/metadata/instance?api-version=2021-02-01", nil, nil); status != 400 {
		t.Fatalf("instance without Metadata header: %d", status)
	}
	if got := te.emu.Counts()[KindIMDSInstance]; got != 3 {
		t.Fatalf("imds-instance count %d", got)
	}
}

func TestNMI(t *testing.T) {
	te := newTestEnv(t)
	te.emu.AddPodIdentity("team-a", "web-0", tKubelet.ClientID)
	pod := map[string]string{"podns": "team-a", "podname": "web-0"}
	tests := []struct {
		name       string
		query      string
		hdr        map[string]string
		wantStatus int
	}{
		{"bound", "?resource=https://vault.azure.net", pod, 200},
		{"bound with client id", "?resource=x&clientid=" + tKubelet.ClientID, pod, 200},
		{"other client id", "?resource=x&clientid=" + tSystem.ClientID, pod, 404},
		{"unbound pod", "?resource=x", map[string]string{"podns": "team-a", "podname": "other"}, 404},
		{"missing headers", "?resource=x", nil, 400},
		{"missing resource", "", pod, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := te.do(t, http.MethodGet, te.emu.NMIURL()+tc.query, tc.hdr, nil)
			if status != tc.wantStatus {
				t.Fatalf("status %d want %d: %s", status, tc.wantStatus, body)
			}
			if status != 200 {
				return
			}
			var resp struct {
				Token    map[string]string `json:"token"`
				ClientID string            `json:"clientid"`
			}
			if err := json.Unmarshal([]byte(body), &resp); err != nil {
				t.Fatal(err)
			}
			c := claimsOf(t, resp.Token["access_token"])
			if resp.ClientID != tKubelet.ClientID || c["oid"] != tKubelet.ObjectID || c["aud"] != resp.Token["resource"] {
				t.Fatalf("response %s claims %v", body, c)
			}
		})
	}
}

func TestFaultsAndCounts(t *testing.T) {
	te := newTestEnv(t)
	te.emu.InjectFault(KindIMDSToken, Fault{Status: 429, RetryAfter: 1500 * time.Millisecond, Count: 2})
	te.emu.InjectFault(KindIMDSInstance, Fault{Latency: 200 * time.Millisecond})
	meta := map[string]string{"Metadata": "true"}
	tokenURL := te.emu.IMDSURL() + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x"
	for i, want := range []int{429, 429, 200} {
		req, _ := http.NewRequest(http.MethodGet, tokenURL, nil)
		req.Header.Set("Metadata", "true")
		resp, err := te.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d want %d", i, resp.StatusCode, want)
		}
		if want == 429 && resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	start := time.Now()
	if status, _ := te.do(t, http.MethodGet, te.emu.IMDSURL()+"/metadata/instance?api-version=1", meta, nil); status != 200 {
		t.Fatalf("latency fault changed status to %d", status)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("latency fault not applied: %v", d)
	}
	if c := te.emu.Counts(); c[KindIMDSToken] != 3 || c[KindIMDSInstance] != 1 {
		t.Fatalf("counts %v", c)
	}
	te.emu.ClearFaults()
	te.emu.ResetCounts()
	if len(te.emu.Counts()) != 0 {
		t.Fatal("ResetCounts left counters")
	}
}
