package world

import (
	"fmt"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
)

// Fixed identities of the world. GUIDs are made up.
const (
	TenantID          = "7f3b1c52-3f0e-4b7a-9a51-6c1f2d9e8a40"
	SubscriptionID    = "5d2a9c17-8e44-4f1b-b0c3-2a7e91f4d6b8"
	NodeResourceGroup = "MC_shop-rg_shop-aks_westeurope"
	NodeVMSS          = "aks-nodepool1-31415926-vmss"
	ClusterIssuerURL  = "https://oidc.prod-aks.azure.com/6a9e0c44-1b2d-4e3f-8a7b-9c0d1e2f3a4b/"
	AzureResource     = "https://management.azure.com/"
	VaultSPSecret     = "vault-reader-client-secret"
	// AppAudienceMount is an azure auth mount whose config has an app's
	// own audience (not first-party: its tokens carry no xms_mirid).
	AppAudienceMount = "azure-app"
	AppAudience      = "api://vault-azure-auth"
	// ClusterID is the AKS cluster id in the API server's certificate.
	ClusterID = "655a6f2a8e1a2d0001c0ffee"
)

// The application's user-assigned managed identity (workload identity).
var AppIdentity = azureemu.Identity{
	Name: "shop-web-identity", ClientID: "0c6b8f2e-5a1d-4c3b-9e7f-1a2b3c4d5e6f", ObjectID: "9e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
	ResourceID: "/subscriptions/" + SubscriptionID + "/resourceGroups/shop-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shop-web-identity",
}

// Another team's identity: federated to a different service account.
var OtherIdentity = azureemu.Identity{
	Name: "billing-identity", ClientID: "3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d", ObjectID: "6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c",
	ResourceID: "/subscriptions/" + SubscriptionID + "/resourceGroups/billing-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/billing-identity",
}

// The node pool's system-assigned identity (node managed identity).
var NodeIdentity = azureemu.Identity{
	Name: NodeVMSS, ClientID: "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", ObjectID: "c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f",
	ResourceID: "/subscriptions/" + SubscriptionID + "/resourceGroups/" + NodeResourceGroup + "/providers/Microsoft.Compute/virtualMachineScaleSets/" + NodeVMSS,
}

// The identity bound to pods by aad-pod-identity.
var PodIdentity = azureemu.Identity{
	Name: "legacy-pod-identity", ClientID: "d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f7a", ObjectID: "e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a8b",
	ResourceID: "/subscriptions/" + SubscriptionID + "/resourceGroups/shop-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/legacy-pod-identity",
}

// The app registration that Vault's azure backend uses to read ARM.
var VaultSP = azureemu.Identity{
	Name: "vault-reader", ClientID: "f6a7b8c9-d0e1-4f2a-9b3c-4d5e6f7a8b9c", ObjectID: "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d",
}

// Pods of the world.
var (
	WebPod     = Pod{Name: "web-6d8f9c7b5-x2x9k", Namespace: "shop", UID: "0b5f5a8e-7c1e-4d0a-9a6f-3e2d1c0b9a88", ServiceAccount: "web"}
	BillingPod = Pod{Name: "billing-5c4b3a2-q8w7e", Namespace: "billing", UID: "1c6a6b9f-8d2f-4e1b-8b7a-4f3e2d1c0b99", ServiceAccount: "billing"}
	LegacyPod  = Pod{Name: "legacy-0", Namespace: "legacy", UID: "2d7b7c0a-9e3a-4f2c-9c8b-5a4f3e2d1caa", ServiceAccount: "default"}
	OpsPod     = Pod{Name: "node-agent-abcde", Namespace: "ops", UID: "3e8c8d1b-0f4b-4a3d-8d9c-6b5a4f3e2dbb", ServiceAccount: "node-agent"}
	// HashiCorpPod runs the SecretProviderClass from HashiCorp's documentation.
	HashiCorpPod = Pod{Name: "webapp", Namespace: "default", UID: "4f9d9e2c-1a5c-4b4e-9eab-7c6b5a4f3ecc", ServiceAccount: "webapp-sa"}
)

// Pod names a pod the way the kubelet reports it.
type Pod struct {
	Name, Namespace, UID, ServiceAccount string
}

// Subject is the service-account token subject of the pod.
func (p Pod) Subject() string {
	return "system:serviceaccount:" + p.Namespace + ":" + p.ServiceAccount
}

// Seeded secrets (values the tests assert).
const (
	DBUsername     = "shop_app"
	DBPassword     = "s3cr3t-Pa55w0rd-db"
	APIKey         = "ak_live_51Hx0c9TestKey"
	LegacyToken    = "legacy-kv1-token-value"
	BillingAPIKey  = "billing-only-key"
	HashiCorpDBPwd = "db-secret-password"
)

func (w *World) seed() error {
	w.seedAzure()
	steps := []func() error{w.seedMounts, w.seedPolicies, w.seedSecrets, w.seedAzureAuth, w.seedJWTAuth}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func (w *World) seedAzure() {
	for _, id := range []azureemu.Identity{AppIdentity, OtherIdentity, NodeIdentity, PodIdentity, VaultSP} {
		w.Azure.AddIdentity(id)
	}
	node := NodeIdentity
	w.Azure.SetVM(azureemu.VM{
		SubscriptionID: SubscriptionID, ResourceGroup: NodeResourceGroup,
		Name: NodeVMSS + "_3", VMSSName: NodeVMSS, ResourceID: NodeIdentity.ResourceID,
		SystemIdentity: &node,
	})
	w.Azure.AddFederatedCredential(AppIdentity.ClientID, ClusterIssuerURL, WebPod.Subject())
	w.Azure.AddFederatedCredential(OtherIdentity.ClientID, ClusterIssuerURL, BillingPod.Subject())
	w.Azure.AddPodIdentity(LegacyPod.Namespace, LegacyPod.Name, PodIdentity.ClientID)
	// Identity binding: the app's identity is bound to the cluster, and RBAC
	// lets the web pods' service account use it.
	w.TokenProxy.Bind(AppIdentity.ClientID)
	w.TokenProxy.Allow(AppIdentity.ClientID, WebPod.Namespace, WebPod.ServiceAccount)
	w.Azure.AddClientSecret(VaultSP.ClientID, VaultSPSecret)
}

func (w *World) seedMounts() error {
	v := w.Vault
	mounts := []struct {
		path, typ string
		opts      map[string]string
	}{
		{"secret", "kv", map[string]string{"version": "2"}},
		{"kv", "kv", map[string]string{"version": "1"}},
		{"pki", "pki", nil},
	}
	for _, m := range mounts {
		if err := v.EnableSecrets("", m.path, m.typ, m.opts); err != nil {
			return fmt.Errorf("mounting %s: %w", m.path, err)
		}
	}
	kubernetes := "kubernetes" // the jwt plugin standing in for kubernetes auth
	if w.opts.RealKubernetesAuth {
		kubernetes = vaultfront.KubernetesPluginType
	}
	for _, a := range [][2]string{{"azure", "azure"}, {AppAudienceMount, "azure"}, {"jwt", "jwt"}, {"kubernetes", kubernetes}} {
		if err := v.EnableAuth("", a[0], a[1]); err != nil {
			return fmt.Errorf("enabling auth/%s: %w", a[0], err)
		}
	}
	return nil
}

// Policies: what each role may read.
var policies = map[string]string{
	"shop-web": `
path "secret/data/shop/*" { capabilities = ["read"] }
path "kv/shop/*" { capabilities = ["read"] }
path "pki/issue/web" { capabilities = ["create", "update"] }
`,
	"billing": `
path "secret/data/billing/*" { capabilities = ["read"] }
`,
	"database": `
path "secret/data/db-pass" { capabilities = ["read"] }
`,
}

func (w *World) seedPolicies() error {
	for name, hcl := range policies {
		if err := w.Vault.PutPolicy("", name, hcl); err != nil {
			return fmt.Errorf("policy %s: %w", name, err)
		}
	}
	return nil
}
