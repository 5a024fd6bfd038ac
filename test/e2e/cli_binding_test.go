package e2e

import (
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// proxyFlags point the mount command at the world's AKS token proxy.
func proxyFlags() []string {
	return []string{"--azure-token-proxy-url", theWorld.TokenProxy.URL(), "--azure-token-proxy-ca-file", theWorld.CAFile}
}

// TestCLIIdentityBinding: the mount command checks the token proxy (its
// derived server name), then the exchange; an RBAC refusal is the failed
// step with the kubectl commands that fix it.
func TestCLIIdentityBinding(t *testing.T) {
	tok, raw := tokenFile(t, world.WebPod, world.AudienceBinding)
	args := append(proxyFlags(), "--spc", spcFile(t, map[string]string{"azureIdentity": "identityBinding"}),
		"--service-account", "web", "--token-file", world.AudienceBinding+"="+tok)
	res := runCLI(t, args...)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"azure auth with an AKS identity binding", "✓ Azure identity endpoint reachable: the AKS token proxy at " + theWorld.TokenProxy.URL(),
		"answered as " + azureemu.ProxyServerName(world.ClusterID) + " (derived from the cluster id)", "✓ Azure token obtained", "✓ login accepted"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout+res.stderr, raw) {
		t.Error("the output contains the service-account token")
	}

	theWorld.TokenProxy.Disallow(world.AppIdentity.ClientID, "shop", "web")
	defer theWorld.TokenProxy.Allow(world.AppIdentity.ClientID, "shop", "web")
	res = runCLI(t, args...)
	for _, want := range []string{"✗ Azure token obtained", "does not let system:serviceaccount:shop:web use-managed-identity on cid.wi.aks.azure.com/" + world.AppIdentity.ClientID,
		"kubectl create clusterrole use-" + world.AppIdentity.ClientID + " --verb=use-managed-identity --resource=" + world.AppIdentity.ClientID + ".cid.wi.aks.azure.com",
		"--serviceaccount=shop:web"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	if res.code != 1 {
		t.Errorf("exit code %d, want 1", res.code)
	}
}

// TestCLIComparesTheRole: with VAULT_TOKEN the mount command reads the role
// and says which bound the token fails; without, it says how to enable it.
func TestCLIComparesTheRole(t *testing.T) {
	tok, _ := tokenFile(t, world.WebPod, world.AudienceAzure)
	args := []string{"--spc", spcFile(t, map[string]string{"roleName": "billing"}), "--service-account", "web", "--token-file", tok}
	res := runCLIEnv(t, []string{"VAULT_TOKEN=" + theWorld.Vault.RootToken()}, args...)
	for _, want := range []string{"✗ login accepted", "✗ role bounds match the token",
		"does not list the token's oid " + world.AppIdentity.ObjectID, "vault write auth/azure/role/billing"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout+res.stderr, theWorld.Vault.RootToken()) {
		t.Error("the output contains VAULT_TOKEN")
	}
	res = runCLI(t, args...)
	if !strings.Contains(res.stdout, "- role bounds match the token: skipped (set VAULT_TOKEN") {
		t.Errorf("without VAULT_TOKEN the step must say how to run it:\n%s", res.stdout)
	}
}

// TestCLIExplainsClaimChecks: the mount command explains the azure
// plugin's claim checks from the Azure token's claims, and the role
// comparison names the missing claim.
func TestCLIExplainsClaimChecks(t *testing.T) {
	params := map[string]string{
		"roleName": "node-agent", "vaultAuthMountPath": world.AppAudienceMount, "clientID": "",
		"azureIdentity": "managed", "azureVMMetadata": "true", "azureResource": world.AppAudience,
	}
	res := runCLIEnv(t, []string{"VAULT_TOKEN=" + theWorld.Vault.RootToken()}, "--spc", spcFile(t, params),
		"--pod-namespace", "ops", "--service-account", "node-agent", "--allow-node-identity-namespaces=ops")
	for _, want := range []string{"✓ Azure token obtained", "✗ login accepted", "xms_az_rid and xms_mirid claims are missing from token",
		"the token has no xms_mirid", `azureResource "` + world.AppAudience + `" is a custom audience`,
		"✗ role bounds match the token", "the token has no xms_mirid or xms_az_rid claim"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
}
