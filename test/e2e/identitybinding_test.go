package e2e

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/testca"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// bindingClass is a class for an AKS identity binding, written the way
// Azure's provider reads it (useAzureTokenProxy) or this one's
// (azureIdentity: identityBinding).
func bindingClass(azureStyle bool) map[string]string {
	p := withDefaults(nil)
	if azureStyle {
		p["useAzureTokenProxy"] = "true"
	} else {
		p["azureIdentity"] = "identityBinding"
	}
	return p
}

// TestIdentityBindingMounts: a class with an identity binding mounts through
// the emulated AKS token proxy (its server name derived from the cluster id
// in the API server's certificate), never asking Entra ID for the exchange,
// and logs in to Vault as the identity's workload-identity role does.
func TestIdentityBindingMounts(t *testing.T) {
	p := startLogged(t, "json")
	for _, azureStyle := range []bool{false, true} {
		theWorld.Azure.ResetCounts()
		v, err := mountAs(t, p, world.SPC("binding", bindingClass(azureStyle)), world.WebPod, 30*time.Second)
		if err != nil {
			t.Fatalf("useAzureTokenProxy=%v: %v", azureStyle, err)
		}
		if got := readFile(t, v, "db-password"); got != world.DBPassword {
			t.Fatalf("db-password = %q", got)
		}
		// The first class logs in through the proxy; Azure's spelling of
		// the same identity is the same login, its Vault token reused.
		want := int64(1)
		if azureStyle {
			want = 0
		}
		counts := theWorld.Azure.Counts()
		if counts[azureemu.KindTokenProxy] != want || counts[azureemu.KindEntraToken] != 0 {
			t.Errorf("useAzureTokenProxy=%v: %d exchanges at the proxy and %d at Entra ID, want %d and 0 (%v)",
				azureStyle, counts[azureemu.KindTokenProxy], counts[azureemu.KindEntraToken], want, counts)
		}
		if sn := theWorld.TokenProxy.LastServerName(); sn != azureemu.ProxyServerName(world.ClusterID) {
			t.Errorf("the proxy was reached as %q, want %q", sn, azureemu.ProxyServerName(world.ClusterID))
		}
	}
	// The binding is another identity than workload identity: its own
	// login, and a workload-identity class of the same pod is not served
	// from it.
	theWorld.Azure.ResetCounts()
	if _, err := mountAs(t, p, world.SPC("wi", withDefaults(nil)), world.WebPod, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := theWorld.Azure.Counts(); c[azureemu.KindEntraToken] != 1 || c[azureemu.KindTokenProxy] != 0 {
		t.Errorf("workload identity after a binding: %v, want one Entra exchange and none at the proxy", c)
	}
}

// TestIdentityBindingRefusals: each way a binding fails names its fix.
func TestIdentityBindingRefusals(t *testing.T) {
	p := startLogged(t, "text")
	t.Run("no token for the audience", func(t *testing.T) {
		v, err := theWorld.Volume(world.SPC("binding", bindingClass(false)), world.WebPod)
		if err != nil {
			t.Fatal(err)
		}
		delete(v.Tokens, world.AudienceBinding)
		err = mountWithin(t, p, v, 30*time.Second)
		expectFailure(t, v, err, codes.Unauthenticated, "api://AKSIdentityBinding", "tokenRequests")
	})
	t.Run("RBAC does not allow the service account", func(t *testing.T) {
		theWorld.TokenProxy.Disallow(world.AppIdentity.ClientID, world.WebPod.Namespace, world.WebPod.ServiceAccount)
		defer theWorld.TokenProxy.Allow(world.AppIdentity.ClientID, world.WebPod.Namespace, world.WebPod.ServiceAccount)
		v, err := mountAs(t, p, world.SPC("binding", bindingClass(false)), world.WebPod, 30*time.Second)
		expectFailure(t, v, err, codes.Unauthenticated, "use-managed-identity", "cid.wi.aks.azure.com",
			world.AppIdentity.ClientID, "system:serviceaccount:shop:web", "403")
	})
	t.Run("another namespace's service account", func(t *testing.T) {
		params := bindingClass(false)
		v, err := mountAs(t, p, world.SPC("binding", params), world.BillingPod, 30*time.Second)
		expectFailure(t, v, err, codes.Unauthenticated, "use-managed-identity", "system:serviceaccount:billing:billing")
	})
	t.Run("identity not bound to the cluster", func(t *testing.T) {
		theWorld.TokenProxy.Allow(world.OtherIdentity.ClientID, world.WebPod.Namespace, world.WebPod.ServiceAccount)
		defer theWorld.TokenProxy.Disallow(world.OtherIdentity.ClientID, world.WebPod.Namespace, world.WebPod.ServiceAccount)
		params := bindingClass(false)
		params["clientID"] = world.OtherIdentity.ClientID
		v, err := mountAs(t, p, world.SPC("binding", params), world.WebPod, 30*time.Second)
		expectFailure(t, v, err, codes.Unauthenticated, "AADSTS700211", "az aks identity-binding create")
	})
}

// TestIdentityBindingServerName: a server name the proxy's certificate does
// not cover fails at once (no retries) naming the flag; one it covers but
// that is the API server's own reaches no token endpoint.
func TestIdentityBindingServerName(t *testing.T) {
	for _, tc := range []struct {
		name, serverName string
		code             codes.Code
		want             []string
	}{
		{"not in the certificate", "a0000000000.ests.aks", codes.FailedPrecondition, []string{"--azure-token-proxy-server-name", "a0000000000.ests.aks"}},
		{"the API server's own name", "kubernetes.default.svc", codes.FailedPrecondition, []string{"404", "not its token proxy", "--azure-token-proxy-server-name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startLogged(t, "text", "--azure-token-proxy-server-name="+tc.serverName)
			start := time.Now()
			v, err := mountAs(t, p, world.SPC("binding", bindingClass(false)), world.WebPod, 30*time.Second)
			expectFailure(t, v, err, tc.code, tc.want...)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the refusal took %v: a wrong server name must not be retried", d)
			}
		})
	}
	t.Run("another cluster's CA", func(t *testing.T) {
		other, err := testca.New()
		if err != nil {
			t.Fatal(err)
		}
		caFile, err := other.WriteCertFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		p := startLogged(t, "text", "--azure-token-proxy-ca-file="+caFile)
		v, err := mountAs(t, p, world.SPC("binding", bindingClass(false)), world.WebPod, 30*time.Second)
		expectFailure(t, v, err, codes.FailedPrecondition, "--azure-token-proxy-ca-file")
		if strings.Contains(err.Error(), "AADSTS") {
			t.Error("a TLS failure must not read as Entra's refusal")
		}
	})
}
