package e2e

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Two pods of one Deployment and a pod of another identity: each reads
// only its own secret, a pod cannot use the other team's identity, and
// Vault sees exactly one login per identity.
func TestIsolationAndOneLoginPerIdentity(t *testing.T) {
	a := newScenario(t, "t-iso-a", "app")
	b := newScenario(t, "t-iso-b", "app")
	va, vb := randomValue("a"), randomValue("b")
	a.putSecret("key", map[string]any{"value": va})
	b.putSecret("key", map[string]any{"value": vb})
	a.spc("key", a.workloadParams(), []object{{Name: "key", Path: "secret/data/t-iso-a/key", Key: "value"}})
	b.spc("key", b.workloadParams(), []object{{Name: "key", Path: "secret/data/t-iso-b/key", Key: "value"}})
	// Team b's class names team a's managed identity and role.
	b.spc("steal", a.workloadParams(), []object{{Name: "key", Path: "secret/data/t-iso-a/key", Key: "value"}})
	before := loginsOf(t, a.ctx)

	a.startDeployment("app", 2, appPod{spc: "key", files: []string{"key"}})
	b.startPod(appPod{name: "app", spc: "key", files: []string{"key"}})
	b.startPod(appPod{name: "thief", spc: "steal", files: []string{"key"}})

	pods := a.deploymentPods("app", 2)
	for _, p := range pods {
		pod := a.running(p.Name)
		if l := a.waitOutput(pod, "key", 30*time.Second, func(l line) bool { return l.File != "" }); l.Content != va {
			t.Errorf("team a pod %s read %q (error %q), want team a's secret", pod.Name, l.Content, l.Error)
		}
	}
	pod := b.running("app")
	if l := b.waitOutput(pod, "key", 30*time.Second, func(l line) bool { return l.File != "" }); l.Content != vb {
		t.Errorf("team b pod read %q (error %q), want team b's secret", l.Content, l.Error)
	}
	if _, err := node.WaitEvent(b.ctx, b.ns, "thief", "AADSTS700213", 90*time.Second); err != nil {
		t.Errorf("team b's pod with team a's identity: %v", err)
	}
	after := loginsOf(t, a.ctx)
	for _, s := range []*scenario{a, b} {
		if n := after[s.identity.ObjectID] - before[s.identity.ObjectID]; n != 1 {
			t.Errorf("Vault saw %d logins of %s's identity, want 1 (all logins: %v)", n, s.ns, after)
		}
	}
}

// startDeployment creates a Deployment of the test app (deleted at the end
// of the test, with its pods).
func (s *scenario) startDeployment(name string, replicas int32, p appPod) {
	s.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: s.podSpec(p)},
		},
	}
	if _, err := node.Client.AppsV1().Deployments(s.ns).Create(s.ctx, d, metav1.CreateOptions{}); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		bg := metav1.DeletePropagationForeground
		if err := node.Client.AppsV1().Deployments(s.ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			s.t.Errorf("deleting deployment %s: %v", name, err)
		}
		err := waitUntil(2*time.Minute, func() bool {
			l, err := node.Client.CoreV1().Pods(s.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
			return err == nil && len(l.Items) == 0
		})
		if err != nil {
			s.t.Errorf("pods of deployment %s did not go", name)
		}
	})
}

// deploymentPods waits until a Deployment has n pods and returns them.
func (s *scenario) deploymentPods(name string, n int) []corev1.Pod {
	s.t.Helper()
	var pods []corev1.Pod
	err := waitUntil(time.Minute, func() bool {
		l, err := node.Client.CoreV1().Pods(s.ns).List(s.ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false
		}
		pods = l.Items
		return len(pods) == n
	})
	if err != nil {
		s.t.Fatalf("deployment %s has %d pods, want %d", name, len(pods), n)
	}
	return pods
}
