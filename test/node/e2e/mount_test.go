package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var spcpsGVR = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasspodstatuses"}

// A pod with an inline CSI volume logs in with its workload identity; its
// container prints the secret files, with the class's filePermission.
func TestInlineVolumeWorkloadIdentity(t *testing.T) {
	s := newScenario(t, "t-mount", "web")
	password, user := randomValue("pw"), randomValue("user")
	s.putSecret("db", map[string]any{"password": password, "username": user})
	s.spc("db", s.workloadParams(), []object{
		{Name: "db-password", Path: "secret/data/t-mount/db", Key: "password", Perm: "0640"},
		{Name: "db-username", Path: "secret/data/t-mount/db", Key: "username"},
	})
	s.startPod(appPod{name: "web", spc: "db", files: []string{"db-password", "db-username"}})
	pod := s.running("web")

	want := map[string]struct{ content, mode string }{
		"/mnt/secrets/db-password": {password, "0640"},
		"/mnt/secrets/db-username": {user, "0644"}, // the driver's default permission
	}
	for path, w := range want {
		l := s.waitOutput(pod, path, 30*time.Second, func(l line) bool { return l.File == path })
		if l.Error != "" || l.Content != w.content || l.Mode != w.mode {
			t.Errorf("container read %s: content %q mode %s error %q; want %q mode %s", path, l.Content, l.Mode, l.Error, w.content, w.mode)
		}
	}
	// The same files on the node, where the driver wrote them.
	dir := node.VolumeDir(pod, "secrets")
	got, err := os.ReadFile(filepath.Join(dir, "db-password"))
	if err != nil || string(got) != password {
		t.Errorf("node file db-password: %q, %v", got, err)
	}
	// The driver recorded the mount and the provider's object versions.
	st, err := node.Dynamic.Resource(spcpsGVR).Namespace(s.ns).Get(s.ctx, "web-t-mount-db", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("SecretProviderClassPodStatus: %v", err)
	}
	objs := statusObjects(st.Object)
	if len(objs) != 2 || objs["db-password"] == "" || objs["db-username"] == "" {
		t.Errorf("SecretProviderClassPodStatus objects %v, want versions of db-password and db-username", objs)
	}
	if logins := loginsOf(t, s.ctx); logins[s.identity.ObjectID] != 1 {
		t.Errorf("Vault saw %d logins of the workload identity %s, want 1 (all logins: %v)", logins[s.identity.ObjectID], s.identity.ObjectID, logins)
	}
}

// statusObjects returns id -> version of a SecretProviderClassPodStatus.
func statusObjects(obj map[string]any) map[string]string {
	out := map[string]string{}
	status, _ := obj["status"].(map[string]any)
	objs, _ := status["objects"].([]any)
	for _, o := range objs {
		m, _ := o.(map[string]any)
		id, _ := m["id"].(string)
		v, _ := m["version"].(string)
		out[id] = v
	}
	return out
}
