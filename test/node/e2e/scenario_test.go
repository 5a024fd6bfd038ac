package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/harness"
)

// scenario is one test's tenant (see harness.Tenant).
type scenario struct {
	t        *testing.T
	ctx      context.Context
	tenant   *harness.Tenant
	ns, sa   string
	identity harness.WorkloadIdentity
}

func newScenario(t *testing.T, ns, sa string) *scenario {
	t.Helper()
	needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	tenant, err := node.AddTenant(ctx, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return &scenario{t: t, ctx: ctx, tenant: tenant, ns: ns, sa: sa, identity: tenant.Identity}
}

func (s *scenario) subject() string { return s.tenant.Subject() }

func (s *scenario) vaultWrite(path string, data map[string]any) {
	s.t.Helper()
	if err := node.World.VaultWrite(s.ctx, path, data); err != nil {
		s.t.Fatal(err)
	}
}

// putSecret writes a KV v2 secret at secret/<namespace>/<name>.
func (s *scenario) putSecret(name string, data map[string]any) {
	s.t.Helper()
	s.vaultWrite("secret/data/"+s.ns+"/"+name, map[string]any{"data": data})
}

type object = harness.Object

// spc applies a SecretProviderClass in the scenario's namespace.
func (s *scenario) spc(name string, params map[string]string, objects []object, secretObjects ...map[string]any) {
	s.t.Helper()
	if err := node.ApplyObject(s.ctx, harness.SecretProviderClass(s.ns, name, params, objects, secretObjects...)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *scenario) workloadParams() map[string]string { return s.tenant.WorkloadParams() }

// appPod is a pod of the test app named name (harness.AppPod).
type appPod struct {
	name, sa, spc string
	files         []string
	envFrom       map[string][2]string
}

func (s *scenario) podSpec(p appPod) corev1.PodSpec {
	sa := p.sa
	if sa == "" {
		sa = s.sa
	}
	return harness.AppPod{ServiceAccount: sa, Class: p.spc, Files: p.files, EnvFrom: p.envFrom}.Spec()
}

// startPod creates the pod (deleted at the end of the test).
func (s *scenario) startPod(p appPod) {
	s.t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: s.ns}, Spec: s.podSpec(p)}
	if _, err := node.Client.CoreV1().Pods(s.ns).Create(s.ctx, pod, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := node.DeletePod(ctx, s.ns, p.name); err != nil {
			s.t.Errorf("deleting pod %s: %v", p.name, err)
		}
	})
}

// running waits for the pod to run and returns it.
func (s *scenario) running(name string) *corev1.Pod {
	s.t.Helper()
	pod, err := node.WaitPodRunning(s.ctx, s.ns, name, 2*time.Minute)
	if err != nil {
		s.t.Fatalf("%v\nprovider log:\n%s", err, s.providerLog())
	}
	return pod
}

// line is one line the test app printed.
type line struct {
	File    string `json:"file"`
	Env     string `json:"env"`
	Mode    string `json:"mode"`
	Content string `json:"content"`
	Error   string `json:"error"`
}

// output returns what the app in pod printed so far.
func (s *scenario) output(pod *corev1.Pod) []line {
	s.t.Helper()
	raw, err := node.ContainerLog(pod, "app")
	if err != nil {
		s.t.Fatal(err)
	}
	var out []line
	for _, r := range raw {
		var l line
		if err := json.Unmarshal([]byte(r), &l); err != nil {
			s.t.Fatalf("the app printed %q, not JSON: %v", r, err)
		}
		out = append(out, l)
	}
	return out
}

// waitOutput waits until the app printed a line that match accepts.
func (s *scenario) waitOutput(pod *corev1.Pod, what string, timeout time.Duration, match func(line) bool) line {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lines := s.output(pod)
		for _, l := range lines {
			if match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the app in %s did not print %s within %s; it printed %+v", pod.Name, what, timeout, lines)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// providerLog returns the tail of the provider container's log.
func (s *scenario) providerLog() string {
	pods, err := node.ProviderPods(s.ctx)
	if err != nil || len(pods) == 0 {
		return fmt.Sprint("no provider pod: ", err)
	}
	lines, err := node.ContainerLog(&pods[0], "provider")
	if err != nil {
		return err.Error()
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// loginsOf counts the logins Vault has seen per identity (oid or sub).
func loginsOf(t *testing.T, ctx context.Context) map[string]int {
	t.Helper()
	logins, err := node.World.Logins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range logins {
		out[l.Identity]++
	}
	return out
}

func randomValue(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}
