package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/harness"
)

// AKS's azure-keyvault-secrets-provider add-on runs the Secrets Store CSI
// Driver itself: providers in /var/run/secrets-store-csi-providers (the
// chart's default providersDir), rotation off unless enabled, and a
// CSIDriver whose tokenRequests hold api://AzureADTokenExchange only, which
// AKS keeps so. Configured that way, the chart's provider mounts a
// workload-identity class; a kubernetes-auth class, which needs a token for
// audience vault, fails with a message that says why and what to use.
func TestBesideTheAKSAddOnDriver(t *testing.T) {
	s := newScenario(t, "t-aksaddon", "web")
	drivers := node.Client.StorageV1().CSIDrivers()
	d, err := drivers.Get(s.ctx, harness.DriverName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saved := slices.Clone(d.Spec.TokenRequests)
	d.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "api://AzureADTokenExchange"}}
	if _, err := drivers.Update(s.ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("giving the CSIDriver the add-on's tokenRequests: %v", err)
	}
	if err := node.RestartDriver(false, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // for the kubelet's informer to see the CSIDriver's new tokenRequests
	t.Cleanup(func() {
		if d, err := drivers.Get(s.ctx, harness.DriverName, metav1.GetOptions{}); err == nil {
			d.Spec.TokenRequests = saved
			if _, err := drivers.Update(s.ctx, d, metav1.UpdateOptions{}); err != nil {
				t.Errorf("restoring the CSIDriver: %v", err)
			}
		}
		if err := node.RestoreDriver(); err != nil {
			t.Errorf("restoring the driver: %v", err)
		}
	})

	value := randomValue("api")
	s.putSecret("api", map[string]any{"key": value})
	objs := []object{{Name: "api-key", Path: "secret/data/t-aksaddon/api", Key: "key"}}
	s.spc("wi", s.workloadParams(), objs)
	s.spc("k8s", map[string]string{"vaultAuthMethod": "kubernetes", "roleName": s.ns, "audience": "vault"}, objs)
	s.startPod(appPod{name: "web-wi", spc: "wi", files: []string{"api-key"}})
	s.startPod(appPod{name: "web-k8s", spc: "k8s", files: []string{"api-key"}})

	pod := s.running("web-wi")
	if l := s.waitOutput(pod, "api-key", 30*time.Second, func(l line) bool { return l.File != "" }); l.Content != value {
		t.Errorf("workload identity beside the add-on's driver: read %q (error %q), want the secret", l.Content, l.Error)
	}
	ev, err := node.WaitEvent(s.ctx, s.ns, "web-k8s", "no service-account token for audience", 90*time.Second)
	if err != nil {
		t.Fatalf("kubernetes auth beside the add-on's driver: %v\nprovider log:\n%s", err, s.providerLog())
	}
	for _, want := range []string{`audience "vault"`, "api://AzureADTokenExchange", "azure-keyvault-secrets-provider add-on", "workload identity"} {
		if !strings.Contains(ev, want) {
			t.Errorf("event %q lacks %q", ev, want)
		}
	}
}
