package e2e

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// TestClaimCheckRefusalsExplained: the azure plugin (v0.24.0) compares the
// login's VM names with the token's xms_mirid, which Entra puts only into
// tokens for first-party audiences. A node-identity class with a custom
// azureResource against a role binding resource groups is refused; the
// pod's event says which check failed and the fix. The same identity and
// audience against a role binding the service principal only mounts.
func TestClaimCheckRefusalsExplained(t *testing.T) {
	p := startLogged(t, "text", "--allow-node-identity-namespaces=ops")
	class := func(role string) map[string]string {
		return map[string]string{
			"roleName": role, "vaultAuthMountPath": world.AppAudienceMount,
			"azureIdentity": "managed", "azureVMMetadata": "true", "azureResource": world.AppAudience,
			"objects": "- objectName: db-password\n  secretPath: secret/shop/db\n  secretKey: password\n",
		}
	}
	v, err := mountAs(t, p, world.SPC("custom-aud-rg", class("node-agent")), world.OpsPod, 30*time.Second)
	expectFailure(t, v, err, codes.PermissionDenied, "xms_az_rid and xms_mirid claims are missing from token",
		"the token has no xms_mirid", `azureResource "`+world.AppAudience+`" is a custom audience`, "bound_service_principal_ids only")
	if _, err := mountAs(t, p, world.SPC("custom-aud-sp", class("node-sp")), world.OpsPod, 30*time.Second); err != nil {
		t.Fatalf("a role binding the service principal only: %v", err)
	}
}
