package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// secretObjects: the driver syncs the mounted objects into a Kubernetes
// Secret owned by the SecretProviderClassPodStatus, the container gets it as
// an environment variable, and deleting the pod garbage-collects the Secret.
func TestSecretObjectsSyncToEnvVar(t *testing.T) {
	s := newScenario(t, "t-sync", "web")
	password := randomValue("pw")
	s.putSecret("db", map[string]any{"password": password})
	s.spc("db", s.workloadParams(), []object{{Name: "db-password", Path: "secret/data/t-sync/db", Key: "password"}},
		map[string]any{
			"secretName": "db-synced", "type": "Opaque",
			"data": []any{map[string]any{"objectName": "db-password", "key": "DB_PASSWORD"}},
		})
	s.startPod(appPod{name: "web", spc: "db", files: []string{"db-password"},
		envFrom: map[string][2]string{"DB_PASSWORD": {"db-synced", "DB_PASSWORD"}}})
	pod := s.running("web")

	l := s.waitOutput(pod, "DB_PASSWORD", 30*time.Second, func(l line) bool { return l.Env == "DB_PASSWORD" })
	if l.Error != "" || l.Content != password {
		t.Errorf("container env DB_PASSWORD = %q (error %q), want the Vault secret %q", l.Content, l.Error, password)
	}
	sec, err := node.Client.CoreV1().Secrets(s.ns).Get(s.ctx, "db-synced", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["DB_PASSWORD"]) != password || sec.Labels["secrets-store.csi.k8s.io/managed"] != "true" {
		t.Errorf("synced Secret data %q labels %v", sec.Data["DB_PASSWORD"], sec.Labels)
	}
	// The driver sets the owner on a timer: wait for it before deleting the
	// pod, or the Secret would be orphaned.
	owner := waitSecretOwner(t, s.ctx, s.ns, "db-synced")
	if owner.Kind != "SecretProviderClassPodStatus" || owner.Name != "web-t-sync-db" {
		t.Errorf("synced Secret owned by %s %s, want the SecretProviderClassPodStatus web-t-sync-db", owner.Kind, owner.Name)
	}
	if err := node.DeletePod(s.ctx, s.ns, "web"); err != nil {
		t.Fatal(err)
	}
	err = waitUntil(90*time.Second, func() bool {
		_, err := node.Client.CoreV1().Secrets(s.ns).Get(s.ctx, "db-synced", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if err != nil {
		t.Errorf("the synced Secret outlived its pod: %v", err)
	}
}

func waitSecretOwner(t *testing.T, ctx context.Context, ns, name string) metav1.OwnerReference {
	t.Helper()
	var sec *corev1.Secret
	err := waitUntil(60*time.Second, func() bool {
		var err error
		sec, err = node.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && len(sec.OwnerReferences) > 0
	})
	if err != nil {
		t.Fatalf("Secret %s/%s got no owner: %v", ns, name, err)
	}
	return sec.OwnerReferences[0]
}

// waitUntil polls cond every 250ms until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil
}
