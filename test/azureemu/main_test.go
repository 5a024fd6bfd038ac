package azureemu_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
	"github.com/vaultazure/vault-azure-csi-provider/test/testca"
	"github.com/vaultazure/vault-azure-csi-provider/test/tlsproxy"
)

// Fixture values: an AKS-like cluster in one tenant and subscription.
const (
	tenantID    = "72f988bf-0000-4000-8000-00000000c0de"
	subID       = "5c7a3b2e-1d4f-4e6a-9b8c-7d6e5f4a3b2c"
	nodeRG      = "MC_rg-apps_aks-test_westeurope"
	identityRG  = "rg-identities"
	vmssName    = "aks-nodepool1-12345678-vmss"
	issuerURL   = "https://westeurope.oic.prod-aks.azure.com/72f988bf-0000-4000-8000-00000000c0de/0f0e0d0c-0000-4000-8000-000000000001/"
	armResource = "https://management.azure.com/"
)

func identityRID(rg, name string) string {
	return "/subscriptions/" + subID + "/resourcegroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}

var (
	// workload is the user-assigned identity an app's service account federates to.
	workload = azureemu.Identity{ClientID: "a1a1a1a1-0000-4000-8000-000000000001", ObjectID: "b1b1b1b1-0000-4000-8000-000000000001",
		ResourceID: identityRID(identityRG, "id-team-a-web"), Name: "id-team-a-web"}
	// stranger federates too but is not bound in Vault.
	stranger = azureemu.Identity{ClientID: "a1a1a1a1-0000-4000-8000-000000000002", ObjectID: "b1b1b1b1-0000-4000-8000-000000000002",
		ResourceID: identityRID(identityRG, "id-stranger"), Name: "id-stranger"}
	// kubelet is the node pool's user-assigned identity.
	kubelet = azureemu.Identity{ClientID: "a1a1a1a1-0000-4000-8000-000000000003", ObjectID: "b1b1b1b1-0000-4000-8000-000000000003",
		ResourceID: identityRID(nodeRG, "aks-test-agentpool"), Name: "aks-test-agentpool"}
	// nodeSystem is the scale set's system-assigned identity.
	nodeSystem = azureemu.Identity{ClientID: "a1a1a1a1-0000-4000-8000-000000000004", ObjectID: "b1b1b1b1-0000-4000-8000-000000000004"}
	// vmSystem is a standalone VM's system-assigned identity.
	vmSystem = azureemu.Identity{ClientID: "a1a1a1a1-0000-4000-8000-000000000005", ObjectID: "b1b1b1b1-0000-4000-8000-000000000005"}
	// vaultApp is the app registration Vault's azure auth method uses for ARM.
	vaultApp, vaultSecret = "a1a1a1a1-0000-4000-8000-0000000000aa", "vault-app-secret"
)

// aksNode is the default node: a uniform scale-set instance with a system
// identity and the kubelet identity attached.
func aksNode() azureemu.VM {
	sys := nodeSystem
	return azureemu.VM{SubscriptionID: subID, ResourceGroup: nodeRG, Name: vmssName + "_0", VMSSName: vmssName,
		SystemIdentity: &sys, UserAssigned: []string{kubelet.ClientID}}
}

// standaloneVM is a plain VM in another resource group.
func standaloneVM() azureemu.VM {
	sys := vmSystem
	return azureemu.VM{SubscriptionID: subID, ResourceGroup: "rg-vms", Name: "vault-client-vm", SystemIdentity: &sys}
}

// world is the hermetic environment shared by the tests in this package.
type world struct {
	ca     *testca.CA
	issuer *cluster.Issuer
	emu    *azureemu.Emulator
	proxy  *tlsproxy.Proxy
	client *http.Client // trusts the test CA; loopback only
}

var w *world

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "azureemu-ca-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	world, err := newWorld(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		return 1
	}
	defer world.close()
	w = world
	code := m.Run()
	if refused := w.proxy.Refused(); len(refused) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the proxy refused requests to unrouted hosts: %v\n", refused)
		return 1
	}
	return code
}

// newWorld starts the emulator and the proxy and prepares the process
// environment before anything uses net/http's proxy settings.
func newWorld(dir string) (*world, error) {
	ca, err := testca.New()
	if err != nil {
		return nil, err
	}
	caFile, err := ca.WriteCertFile(dir)
	if err != nil {
		return nil, err
	}
	issuer, err := cluster.NewIssuer(issuerURL)
	if err != nil {
		return nil, err
	}
	emu, err := azureemu.New(azureemu.Config{TenantID: tenantID, CA: ca, ClusterIssuer: issuer})
	if err != nil {
		return nil, err
	}
	for _, id := range []azureemu.Identity{workload, stranger, kubelet} {
		emu.AddIdentity(id)
	}
	emu.AddFederatedCredential(workload.ClientID, issuerURL, "system:serviceaccount:team-a:web")
	emu.AddFederatedCredential(stranger.ClientID, issuerURL, "system:serviceaccount:team-b:batch")
	emu.AddClientSecret(vaultApp, vaultSecret)
	emu.SetVM(aksNode())
	proxy, err := tlsproxy.New(ca, map[string]http.Handler{azureemu.EntraHost: emu.Handler(), azureemu.ARMHost: emu.Handler()})
	if err != nil {
		_ = emu.Close()
		return nil, err
	}
	wd := &world{ca: ca, issuer: issuer, emu: emu, proxy: proxy}
	if err := tlsproxy.ConfigureProcessEnv(proxy.URL(), caFile); err != nil {
		wd.close()
		return nil, err
	}
	if err := tlsproxy.Check(); err != nil {
		wd.close()
		return nil, err
	}
	wd.client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig(), Proxy: http.ProxyFromEnvironment},
		Timeout:   30 * time.Second,
	}
	return wd, nil
}

func (wd *world) close() {
	_ = wd.proxy.Close()
	_ = wd.emu.Close()
}

// saToken mints a projected service-account token for Entra token exchange.
func saToken(t *testing.T, ns, sa string) string {
	t.Helper()
	tok, err := w.issuer.ServiceAccountToken(ns, sa, azureemu.TokenExchangeAudience, sa+"-0", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
