package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rotationScenario mounts secret/<ns>/api as the file api-key and syncs it
// to the Secret api-synced (env API_KEY), and waits until the mount is
// settled (the Secret has its owner).
func rotationScenario(t *testing.T, ns string) (*scenario, *corev1.Pod, string) {
	s := newScenario(t, ns, "web")
	v1 := randomValue("v1")
	s.putSecret("api", map[string]any{"key": v1})
	s.spc("api", s.workloadParams(), []object{{Name: "api-key", Path: "secret/data/" + ns + "/api", Key: "key"}},
		map[string]any{
			"secretName": "api-synced", "type": "Opaque",
			"data": []any{map[string]any{"objectName": "api-key", "key": "API_KEY"}},
		})
	s.startPod(appPod{name: "web", spc: "api", files: []string{"api-key"},
		envFrom: map[string][2]string{"API_KEY": {"api-synced", "API_KEY"}}})
	pod := s.running("web")
	s.waitOutput(pod, "api-key "+v1, 30*time.Second, func(l line) bool { return l.File == "/mnt/secrets/api-key" && l.Content == v1 })
	waitSecretOwner(t, s.ctx, ns, "api-synced")
	return s, pod, v1
}

// mountState is what a rewrite by the driver would change.
type mountState struct {
	dataDir      string            // target of the ..data link (a new one per write)
	spcpsVersion string            // resourceVersion of the SecretProviderClassPodStatus
	objects      map[string]string // object versions it records
	secretRV     string            // resourceVersion of the synced Secret
}

func (s *scenario) mountState(pod *corev1.Pod) mountState {
	s.t.Helper()
	link, err := os.Readlink(filepath.Join(node.VolumeDir(pod, "secrets"), "..data"))
	if err != nil {
		s.t.Fatal(err)
	}
	st, err := node.Dynamic.Resource(spcpsGVR).Namespace(s.ns).Get(s.ctx, pod.Name+"-"+s.ns+"-api", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	sec, err := node.Client.CoreV1().Secrets(s.ns).Get(s.ctx, "api-synced", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return mountState{dataDir: link, spcpsVersion: st.GetResourceVersion(), objects: statusObjects(st.Object), secretRV: sec.ResourceVersion}
}

// waitRepublishes waits until the provider has read path from Vault n more
// times: the kubelet re-published the volume and the driver called Mount.
func (s *scenario) waitRepublishes(path string, n int64) {
	s.t.Helper()
	count := func() int64 {
		st, err := node.World.Stats(s.ctx)
		if err != nil {
			s.t.Fatal(err)
		}
		return st.ByPath[path]
	}
	start := count()
	if err := waitUntil(2*time.Minute, func() bool { return count() >= start+n }); err != nil {
		s.t.Fatalf("Vault saw %d reads of %s in 2 minutes, want %d more: the volume was not re-published\nprovider log:\n%s",
			count()-start, path, n, s.providerLog())
	}
}

func (s *scenario) assertNoRewrite(pod *corev1.Pod, before mountState, after string) {
	s.t.Helper()
	now := s.mountState(pod)
	if now.dataDir != before.dataDir {
		s.t.Errorf("%s: the driver rewrote the files (..data %s -> %s)", after, before.dataDir, now.dataDir)
	}
	if now.spcpsVersion != before.spcpsVersion || !equalMaps(now.objects, before.objects) {
		s.t.Errorf("%s: the SecretProviderClassPodStatus changed (objects %v -> %v)", after, before.objects, now.objects)
	}
	if now.secretRV != before.secretRV {
		s.t.Errorf("%s: the synced Secret was rewritten (resourceVersion %s -> %s)", after, before.secretRV, now.secretRV)
	}
	if n := len(s.output(pod)); n != 2 {
		s.t.Errorf("%s: the app printed %d lines, want 2 (env and the file once): %+v", after, n, s.output(pod))
	}
}

// Rotation: kubelet re-publishes, the driver calls Mount, the provider reads
// Vault again. An unchanged secret rewrites nothing; a changed one updates
// the file (seen by the running container) and the synced Secret.
func TestRotation(t *testing.T) {
	s, pod, v1 := rotationScenario(t, "t-rotate")
	path := "secret/data/t-rotate/api"
	before := s.mountState(pod)

	s.waitRepublishes(path, 2)
	s.assertNoRewrite(pod, before, "unchanged secret")

	v2 := randomValue("v2")
	s.putSecret("api", map[string]any{"key": v2})
	s.waitOutput(pod, "the rotated api-key", 2*time.Minute, func(l line) bool { return l.File == "/mnt/secrets/api-key" && l.Content == v2 })
	if got, err := os.ReadFile(filepath.Join(node.VolumeDir(pod, "secrets"), "api-key")); err != nil || string(got) != v2 {
		t.Errorf("node file api-key = %q, %v; want %q", got, err, v2)
	}
	err := waitUntil(60*time.Second, func() bool {
		sec, err := node.Client.CoreV1().Secrets(s.ns).Get(s.ctx, "api-synced", metav1.GetOptions{})
		return err == nil && string(sec.Data["API_KEY"]) == v2
	})
	if err != nil {
		t.Errorf("the synced Secret did not get the rotated value")
	}
	after := s.mountState(pod)
	if after.objects["api-key"] == before.objects["api-key"] || after.dataDir == before.dataDir {
		t.Errorf("rotation kept the object version %q / data dir %s", after.objects["api-key"], after.dataDir)
	}
	if v1 == v2 {
		t.Fatal("test bug: equal values")
	}
}

// Restarting the provider's DaemonSet pod (an upgrade, a node reboot) must
// not rewrite anyone's files or Secrets: object versions are stable.
func TestProviderRestartNoRewrite(t *testing.T) {
	s, pod, _ := rotationScenario(t, "t-restart")
	path := "secret/data/t-restart/api"
	s.waitRepublishes(path, 1)
	before := s.mountState(pod)

	logins := loginsOf(t, s.ctx)[s.identity.ObjectID]
	old, err := node.ProviderPods(s.ctx)
	if err != nil || len(old) != 1 {
		t.Fatalf("provider pods: %v %v", len(old), err)
	}
	if err := node.Client.CoreV1().Pods(old[0].Namespace).Delete(s.ctx, old[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := node.WaitProviderReady(s.ctx, string(old[0].UID)); err != nil {
		t.Fatal(err)
	}
	s.waitRepublishes(path, 2)
	if got := loginsOf(t, s.ctx)[s.identity.ObjectID]; got != logins+1 {
		t.Errorf("the restarted provider logged in %d times, want once (a fresh process, then its cache)", got-logins)
	}
	s.assertNoRewrite(pod, before, "provider restarted")
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
