package e2e

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

func withDefaults(extra map[string]string) map[string]string {
	p := map[string]string{
		"roleName": "shop-web", "clientID": world.AppIdentity.ClientID,
		"objects": "- objectName: db-password\n  secretPath: secret/shop/db\n  secretKey: password\n",
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func TestErrorsAreSpecific(t *testing.T) {
	tests := []struct {
		name     string
		pod      world.Pod
		params   map[string]string
		code     codes.Code
		contains []string
	}{
		{"role does not exist", world.WebPod, withDefaults(map[string]string{"roleName": "no-such-role"}),
			codes.PermissionDenied, []string{"no-such-role", "auth/azure/login", "HTTP 400"}},
		{"role bound to another identity", world.WebPod, withDefaults(map[string]string{"roleName": "billing"}),
			codes.PermissionDenied, []string{"service principal not authorized", world.AppIdentity.ObjectID, "bound_service_principal_ids"}},
		{"policy does not allow the path", world.WebPod, withDefaults(map[string]string{
			"objects": "- objectName: billing\n  secretPath: secret/billing/api\n  secretKey: key\n"}),
			codes.PermissionDenied, []string{"secret/data/billing/api", "403", "permission denied"}},
		{"missing secret", world.WebPod, withDefaults(map[string]string{
			"objects": "- objectName: nothing\n  secretPath: secret/shop/nothing\n  secretKey: key\n"}),
			codes.NotFound, []string{"secret/data/shop/nothing", "404"}},
		{"missing key", world.WebPod, withDefaults(map[string]string{
			"objects": "- objectName: x\n  secretPath: secret/shop/db\n  secretKey: pasword\n"}),
			codes.NotFound, []string{"pasword", "password", "username"}},
		{"bad parameter", world.WebPod, withDefaults(map[string]string{
			"objects": "- objectName: ../../etc/x\n  secretPath: secret/shop/db\n"}),
			codes.InvalidArgument, []string{"objects[0].objectName", "relative path inside the mount"}},
		{"node identity outside allowlist", world.WebPod, withDefaults(map[string]string{"azureIdentity": "managed", "roleName": "node-agent"}),
			codes.FailedPrecondition, []string{"--allow-node-identity", `"shop"`}},
		{"identity not federated to this service account", world.BillingPod, withDefaults(nil),
			codes.Unauthenticated, []string{"Entra", world.AppIdentity.ClientID, "billing/billing"}},
		{"audience without trailing slash", world.WebPod, withDefaults(map[string]string{"azureResource": "https://management.azure.com"}),
			codes.PermissionDenied, []string{"aud=https://management.azure.com ", "resource"}},
		{"kubernetes without token for audience", world.WebPod, withDefaults(map[string]string{"vaultAuthMethod": "kubernetes", "audience": "sts.example.com"}),
			codes.Unauthenticated, []string{"sts.example.com", "tokenRequests"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, _, err := mount(t, prov, world.SPC("bad", tc.params), tc.pod, nil)
			if err == nil {
				t.Fatal("mount succeeded, want an error")
			}
			st, _ := status.FromError(err)
			if st.Code() != tc.code {
				t.Errorf("code = %s, want %s (%s)", st.Code(), tc.code, st.Message())
			}
			for _, want := range tc.contains {
				if !strings.Contains(st.Message(), want) {
					t.Errorf("message lacks %q:\n%s", want, st.Message())
				}
			}
			if entries, _ := os.ReadDir(v.TargetPath); len(entries) != 0 {
				t.Errorf("a failed mount wrote %d entries", len(entries))
			}
		})
	}
}

func TestFailedObjectFailsWholeMount(t *testing.T) {
	params := withDefaults(map[string]string{"objects": shopObjects + "- objectName: missing\n  secretPath: secret/shop/missing\n  secretKey: x\n"})
	v, _, err := mount(t, prov, world.SPC("partial", params), world.WebPod, nil)
	if err == nil {
		t.Fatal("mount with one missing object succeeded")
	}
	if entries, _ := os.ReadDir(v.TargetPath); len(entries) != 0 {
		t.Errorf("partial result written: %d entries", len(entries))
	}
}
