package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A pod whose service account is not bound to the role does not start, and
// its events (what kubectl describe shows) carry the provider's explanation.
func TestUnboundServiceAccountDoesNotStart(t *testing.T) {
	s := newScenario(t, "t-refuse", "web")
	if err := node.EnsureServiceAccount(s.ctx, s.ns, "intruder"); err != nil {
		t.Fatal(err)
	}
	password := randomValue("pw")
	s.putSecret("db", map[string]any{"password": password})
	objs := []object{{Name: "db-password", Path: "secret/data/t-refuse/db", Key: "password"}}
	// The class names web's managed identity (workload identity) or web's
	// kubernetes role: the intruder's token is federated to neither.
	s.spc("db", s.workloadParams(), objs)
	s.spc("db-k8s", map[string]string{"vaultAuthMethod": "kubernetes", "roleName": s.ns, "audience": "vault"}, objs)
	s.startPod(appPod{name: "intruder", sa: "intruder", spc: "db", files: []string{"db-password"}})
	s.startPod(appPod{name: "intruder-k8s", sa: "intruder", spc: "db-k8s", files: []string{"db-password"}})

	cases := []struct {
		pod  string
		want []string
	}{
		{"intruder", []string{
			"FailedMount", "exchanging the service-account token of t-refuse/intruder at Entra ID",
			"AADSTS700213", "system:serviceaccount:t-refuse:intruder",
		}},
		{"intruder-k8s", []string{
			"FailedMount", `Vault refused the kubernetes login for role "t-refuse"`,
			"service account name not authorized", "binds this service account and audience",
		}},
	}
	for _, c := range cases {
		ev, err := node.WaitEvent(s.ctx, s.ns, c.pod, c.want[1], 90*time.Second)
		if err != nil {
			t.Errorf("pod %s: %v\nprovider log:\n%s", c.pod, err, s.providerLog())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(ev, w) {
				t.Errorf("pod %s: event %q lacks %q", c.pod, ev, w)
			}
		}
		if strings.Contains(ev, password) {
			t.Errorf("pod %s: the event shows the secret", c.pod)
		}
		pod, err := node.Client.CoreV1().Pods(s.ns).Get(s.ctx, c.pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pod.Status.Phase != corev1.PodPending || len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].State.Waiting == nil {
			t.Errorf("pod %s started without its secrets: phase %s %+v", c.pod, pod.Status.Phase, pod.Status.ContainerStatuses)
		}
	}
}
