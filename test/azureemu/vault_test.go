package azureemu_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	azureauth "github.com/hashicorp/vault-plugin-auth-azure"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/rotation"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
)

// systemView is what vault-plugin-auth-azure v0.24.0 needs from its host:
// writing auth/azure/config calls DeregisterRotationJob, which the SDK's
// StaticSystemView refuses.
type systemView struct{ logical.StaticSystemView }

func (systemView) DeregisterRotationJob(context.Context, *rotation.RotationJobDeregisterRequest) error {
	return nil
}

// azureBackend is the real azure auth method, hosted in-process.
type azureBackend struct {
	b       logical.Backend
	storage logical.Storage
}

func newAzureBackend(t *testing.T) azureBackend {
	t.Helper()
	storage := &logical.InmemStorage{}
	b, err := azureauth.Factory(context.Background(), &logical.BackendConfig{
		Logger:      hclog.NewNullLogger(),
		System:      systemView{logical.StaticSystemView{DefaultLeaseTTLVal: time.Hour, MaxLeaseTTLVal: 24 * time.Hour}},
		StorageView: storage,
	})
	if err != nil {
		t.Fatalf("azure auth factory: %v", err)
	}
	return azureBackend{b: b, storage: storage}
}

// write sends a write request and folds error responses into the error. Like
// Vault, it asks the backend's existence check whether it is a create.
func (ab azureBackend) write(path string, data map[string]any) (*logical.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := &logical.Request{Operation: logical.UpdateOperation, Path: path, Data: data, Storage: ab.storage}
	if checkFound, exists, err := ab.b.HandleExistenceCheck(ctx, req); err == nil && checkFound && !exists {
		req.Operation = logical.CreateOperation
	}
	resp, err := ab.b.HandleRequest(ctx, &logical.Request{
		Operation: req.Operation, Path: path, Data: data, Storage: ab.storage,
		Connection: &logical.Connection{RemoteAddr: "127.0.0.1"},
	})
	if err == nil && resp != nil && resp.IsError() {
		err = resp.Error()
	}
	if err != nil {
		return resp, fmt.Errorf("write %s: %w", path, err)
	}
	return resp, nil
}

func (ab azureBackend) mustWrite(t *testing.T, path string, data map[string]any) {
	t.Helper()
	if _, err := ab.write(path, data); err != nil {
		t.Fatal(err)
	}
}

// configuredBackend writes the config and roles used by the login tests.
func configuredBackend(t *testing.T) azureBackend {
	t.Helper()
	ab := newAzureBackend(t)
	ab.mustWrite(t, "config", map[string]any{
		"tenant_id": tenantID, "resource": armResource, "client_id": vaultApp, "client_secret": vaultSecret,
	})
	roles := map[string]map[string]any{
		"workload":         {"bound_service_principal_ids": workload.ObjectID},
		"workload-with-rg": {"bound_service_principal_ids": workload.ObjectID, "bound_resource_groups": nodeRG},
		"node-vmss": {"bound_service_principal_ids": nodeSystem.ObjectID + "," + kubelet.ObjectID,
			"bound_subscription_ids": subID, "bound_resource_groups": nodeRG, "bound_scale_sets": vmssName},
		"node-other-rg": {"bound_service_principal_ids": nodeSystem.ObjectID, "bound_resource_groups": "rg-elsewhere"},
		"vm":            {"bound_service_principal_ids": vmSystem.ObjectID, "bound_subscription_ids": subID, "bound_resource_groups": "rg-vms"},
	}
	for name, data := range roles {
		ab.mustWrite(t, "role/"+name, data)
	}
	return ab
}

// imdsToken fetches a node managed-identity token straight from the emulated IMDS.
func imdsToken(t *testing.T, resource, clientID string) string {
	t.Helper()
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {resource}}
	if clientID != "" {
		q.Set("client_id", clientID)
	}
	req, err := http.NewRequest(http.MethodGet, w.emu.IMDSURL()+"/metadata/identity/oauth2/token?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Metadata", "true")
	resp, err := w.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("IMDS token: status %d, %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

func mustMint(t *testing.T, opts azureemu.TokenOptions) string {
	t.Helper()
	tok, err := w.emu.MintAccessToken(opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func exchange(t *testing.T, clientID, ns, sa, scope string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := workloadToken(ctx, clientID, saToken(t, ns, sa), scope)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// loginCase is one login attempt; wantErr empty means it must succeed.
type loginCase struct {
	name    string
	vm      azureemu.VM
	data    func(t *testing.T) map[string]any
	wantErr string
}

func runLogins(t *testing.T, ab azureBackend, cases []loginCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.emu.SetVM(tc.vm)
			resp, err := ab.write("login", tc.data(t))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("login refused: %v", err)
				}
				if resp == nil || resp.Auth == nil || resp.Auth.Alias == nil {
					t.Fatalf("login returned no auth: %#v", resp)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want login error containing %q, got %v", tc.wantErr, err)
			}
			t.Logf("refused as expected: %v", err)
		})
	}
}

func TestVaultAzureAuthWorkloadIdentity(t *testing.T) {
	ab := configuredBackend(t)
	w.emu.ResetCounts()
	role := func(role string, tok func(t *testing.T) string) func(t *testing.T) map[string]any {
		return func(t *testing.T) map[string]any { return map[string]any{"role": role, "jwt": tok(t)} }
	}
	wiToken := func(scope string) func(t *testing.T) string {
		return func(t *testing.T) string { return exchange(t, workload.ClientID, "team-a", "web", scope) }
	}
	mint := func(opts azureemu.TokenOptions) func(t *testing.T) string {
		return func(t *testing.T) string { return mustMint(t, opts) }
	}
	node := aksNode()
	runLogins(t, ab, []loginCase{
		{"workload identity token", node, role("workload", wiToken("https://management.azure.com//.default")), ""},
		{"audience without trailing slash", node, role("workload", wiToken("https://management.azure.com/.default")), "expected audience"},
		{"identity not bound", node, role("workload", func(t *testing.T) string {
			return exchange(t, stranger.ClientID, "team-b", "batch", "https://management.azure.com//.default")
		}), "service principal not authorized: " + stranger.ObjectID},
		{"signed by a foreign key", node, role("workload", mint(azureemu.TokenOptions{Identity: workload, Audience: armResource, SignWithForeignKey: true})), "failed to verify signature"},
		{"v2 issuer", node, role("workload", mint(azureemu.TokenOptions{Identity: workload, Audience: armResource,
			Issuer: "https://login.microsoftonline.com/" + tenantID + "/v2.0"})), "issued by a different provider"},
		{"expired", node, role("workload", mint(azureemu.TokenOptions{Identity: workload, Audience: armResource,
			NotBefore: time.Now().Add(-2 * time.Hour), TTL: -time.Hour})), "expired"},
		{"not yet valid", node, role("workload", mint(azureemu.TokenOptions{Identity: workload, Audience: armResource,
			NotBefore: time.Now().Add(10 * time.Minute)})), "nbf"},
		{"resource group bound without VM metadata", node, role("workload-with-rg", wiToken("https://management.azure.com//.default")),
			"subscription_id and resource_group_name are required"},
	})
	counts := w.emu.Counts()
	t.Logf("emulator requests during workload-identity logins: %v", counts)
	if counts[azureemu.KindOIDCDiscovery] < 1 || counts[azureemu.KindJWKS] < 1 {
		t.Fatalf("Vault did not fetch discovery/JWKS through the proxy: %v", counts)
	}
	if refused := w.proxy.Refused(); len(refused) > 0 {
		t.Fatalf("proxy refused %v", refused)
	}
}

func TestVaultAzureAuthNodeIdentity(t *testing.T) {
	ab := configuredBackend(t)
	w.emu.ResetCounts()
	node, vm := aksNode(), standaloneVM()
	login := func(role, clientID string, meta map[string]any) func(t *testing.T) map[string]any {
		return func(t *testing.T) map[string]any {
			data := map[string]any{"role": role, "jwt": imdsToken(t, armResource, clientID)}
			for k, v := range meta {
				data[k] = v
			}
			return data
		}
	}
	vmssMeta := func(rg string) map[string]any {
		return map[string]any{"subscription_id": subID, "resource_group_name": rg, "vmss_name": vmssName,
			"vm_name": vmssName + "_0", "resource_id": "/subscriptions/" + subID + "/resourceGroups/" + nodeRG +
				"/providers/Microsoft.Compute/virtualMachineScaleSets/" + vmssName + "/virtualMachines/0"}
	}
	vmID := "/subscriptions/" + subID + "/resourceGroups/rg-vms/providers/Microsoft.Compute/virtualMachines/vault-client-vm"
	runLogins(t, ab, []loginCase{
		{"scale set system identity", node, login("node-vmss", "", vmssMeta(nodeRG)), ""},
		{"scale set kubelet identity", node, login("node-vmss", kubelet.ClientID, vmssMeta(nodeRG)), ""},
		{"wrong resource group", node, login("node-vmss", "", vmssMeta("rg-elsewhere")), "ResourceGroupNotFound"},
		{"role bound to another resource group", node, login("node-other-rg", "", vmssMeta(nodeRG)), "resource group not authorized"},
		{"standalone VM by name", vm, login("vm", "", map[string]any{"subscription_id": subID, "resource_group_name": "rg-vms", "vm_name": "vault-client-vm"}), ""},
		{"standalone VM by resource id", vm, login("vm", "", map[string]any{"subscription_id": subID, "resource_group_name": "rg-vms", "resource_id": vmID}), ""},
		{"VM name of another VM", vm, login("vm", "", map[string]any{"subscription_id": subID, "resource_group_name": "rg-vms", "vm_name": "other-vm"}), "xms_mirid token claim does not match"},
	})
	w.emu.SetVM(aksNode())
	counts := w.emu.Counts()
	t.Logf("emulator requests during node-identity logins: %v", counts)
	if counts[azureemu.KindARM] < 1 || counts[azureemu.KindEntraToken] < 1 {
		t.Fatalf("Vault made no ARM reads with its own credentials: %v", counts)
	}
	if refused := w.proxy.Refused(); len(refused) > 0 {
		t.Fatalf("proxy refused %v", refused)
	}
}

// TestVaultAzureAuthClaimChecks runs the checks vault-plugin-auth-azure
// makes since v0.20.2 (the login's resource group, VM and scale-set names
// against the token's xms_mirid / xms_az_rid) and the role rule of v0.21.0+,
// as v0.24.0 implements them, against tokens minted as Entra mints them
// (xms_mirid only for first-party audiences).
func TestVaultAzureAuthClaimChecks(t *testing.T) {
	const customResource = "api://vault-azure-auth"
	ab := newAzureBackend(t)
	ab.mustWrite(t, "config", map[string]any{
		"tenant_id": tenantID, "resource": customResource, "client_id": vaultApp, "client_secret": vaultSecret,
	})
	ab.mustWrite(t, "role/node-rg", map[string]any{"bound_service_principal_ids": nodeSystem.ObjectID, "bound_resource_groups": nodeRG})
	ab.mustWrite(t, "role/node-sp", map[string]any{"bound_service_principal_ids": nodeSystem.ObjectID})

	// The role rule: v0.24.0 refuses a role with no bound constraint at all
	// (its changelog says one of bound_service_principal_ids or
	// bound_group_ids is required; the code accepts any one bound).
	if _, err := ab.write("role/unbound", map[string]any{"token_policies": "default"}); err == nil ||
		!strings.Contains(err.Error(), "must have at least one bound constraint") {
		t.Fatalf("a role with no bounds: %v, want refused", err)
	}
	if _, err := ab.write("role/rg-only", map[string]any{"bound_resource_groups": nodeRG}); err != nil {
		t.Fatalf("a role binding a resource group only: %v (v0.24.0 accepts it)", err)
	}

	node := aksNode()
	meta := map[string]any{"subscription_id": subID, "resource_group_name": nodeRG, "vmss_name": vmssName, "vm_name": vmssName + "_0"}
	login := func(role string, meta map[string]any) func(t *testing.T) map[string]any {
		return func(t *testing.T) map[string]any {
			data := map[string]any{"role": role, "jwt": imdsToken(t, customResource, "")}
			for k, v := range meta {
				data[k] = v
			}
			return data
		}
	}
	runLogins(t, ab, []loginCase{
		{"custom audience, role binds the service principal only", node, login("node-sp", nil), ""},
		{"custom audience, role binds a resource group, VM metadata sent", node, login("node-rg", meta), "xms_az_rid and xms_mirid claims are missing from token"},
		{"custom audience, role binds a resource group, no VM metadata", node, login("node-rg", nil), "subscription_id and resource_group_name are required"},
	})

	// First-party audience: the claims are there, and are compared.
	arm := configuredBackend(t)
	armLogin := func(meta map[string]any) func(t *testing.T) map[string]any {
		return func(t *testing.T) map[string]any {
			data := map[string]any{"role": "node-vmss", "jwt": imdsToken(t, armResource, "")}
			for k, v := range meta {
				data[k] = v
			}
			return data
		}
	}
	arm.mustWrite(t, "role/vm-two-rg", map[string]any{"bound_service_principal_ids": vmSystem.ObjectID, "bound_resource_groups": "rg-vms,rg-other"})
	vmID := "/subscriptions/" + subID + "/resourceGroups/rg-vms/providers/Microsoft.Compute/virtualMachines/vault-client-vm"
	vmLogin := func(meta map[string]any) func(t *testing.T) map[string]any {
		return func(t *testing.T) map[string]any {
			data := map[string]any{"role": "vm-two-rg", "jwt": imdsToken(t, armResource, "")}
			for k, v := range meta {
				data[k] = v
			}
			return data
		}
	}
	runLogins(t, arm, []loginCase{
		{"resource group of the token", node, armLogin(meta), ""},
		{"scale set of another name", node, armLogin(map[string]any{"subscription_id": subID, "resource_group_name": nodeRG, "vmss_name": "aks-other-vmss"}), "xms_mirid token claim does not match vmss_name aks-other-vmss"},
		{"resource_id in another resource group", standaloneVM(), vmLogin(map[string]any{"subscription_id": subID, "resource_group_name": "rg-other", "resource_id": vmID}), "provided resource_id does not match resource_group_name"},
	})
}
