package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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

// syncLine is one result syncdrive printed.
type syncLine struct {
	Poll     int               `json:"poll"`
	Name     string            `json:"name"`
	Data     map[string]string `json:"data"`
	Versions map[string]string `json:"versions"`
	Code     string            `json:"code"`
	Error    string            `json:"error"`
}

// The Secrets Store Sync Controller's pod, as its chart makes it with the
// providerContainer our chart renders: the provider container and, in the
// controller's place, syncdrive, which requests real 600-second tokens
// bound to the node from the apiserver and sends the controller's
// MountRequests. A class with workload identity and one with kubernetes
// auth (the real plugin reviewing the node-bound token) sync with versions
// stable across polls and equal to the driver path's HMAC under the
// chart's version key; the node's managed identity is refused.
func TestSyncControllerSidecarWithRealTokens(t *testing.T) {
	s := newScenario(t, "t-ssc", "web")
	value := randomValue("ssc")
	s.putSecret("db", map[string]any{"password": value})
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := node.SyncControllerContainer(ports[0], "1m")
	if err != nil {
		t.Fatal(err)
	}
	caPEM := node.World.Info.VaultCAPEM
	objects := `[{"objectName": "db-password", "secretPath": "secret/data/t-ssc/db", "secretKey": "password"}]`
	wi := s.workloadParams()
	wi["objects"], wi["vaultCAPem"] = objects, caPEM
	syncs := []map[string]any{
		{"namespace": s.ns, "name": "wi", "serviceAccount": s.sa, "parameters": wi, "data": map[string]string{"password": "db-password"}},
		{"namespace": s.ns, "name": "k8s", "serviceAccount": s.sa, "data": map[string]string{"password": "db-password"},
			"parameters": map[string]string{"vaultAuthMethod": "kubernetes", "roleName": s.ns, "audience": "vault", "objects": objects, "vaultCAPem": caPEM}},
		{"namespace": s.ns, "name": "node", "serviceAccount": s.sa, "data": map[string]string{"password": "db-password"},
			"parameters": map[string]string{"azureIdentity": "managed", "roleName": "node-agent", "objects": objects, "vaultCAPem": caPEM}},
	}
	args := []string{"-apiserver", node.APIServerURL, "-polls", "3", "-interval", "2s"}
	for _, sy := range syncs {
		b, _ := json.Marshal(sy)
		args = append(args, "-sync", string(b))
	}
	reviewsBefore := tokenReviews(t, s.ctx)
	pod := startSyncControllerPod(t, s.ctx, provider, args)
	lines := waitSyncDone(t, s.ctx, pod)

	key := versionKey(t, s.ctx)
	byName := map[string][]syncLine{}
	for _, l := range lines {
		byName[l.Name] = append(byName[l.Name], l)
	}
	want := ssVersion(key, "db-password", value)
	for _, name := range []string{"wi", "k8s"} {
		got := byName[name]
		if len(got) != 3 {
			t.Fatalf("%s: %d results, want 3 polls: %+v", name, len(got), got)
		}
		for _, l := range got {
			if l.Error != "" || l.Data["password"] != value {
				t.Errorf("%s poll %d: data %v, error %s %q; want the Vault secret", name, l.Poll, l.Data, l.Code, l.Error)
			}
			if l.Versions["db-password"] != want {
				t.Errorf("%s poll %d: version %s, want %s (the driver path's HMAC under the chart's version key)", name, l.Poll, l.Versions["db-password"], want)
			}
		}
	}
	for _, l := range byName["node"] {
		if l.Code != "FailedPrecondition" || !strings.Contains(l.Error, "--mode=sync-controller") {
			t.Errorf("node identity poll %d: %s %q, want FailedPrecondition naming the mode", l.Poll, l.Code, l.Error)
		}
	}
	if tokenReviews(t, s.ctx) <= reviewsBefore {
		t.Error("kubernetes auth succeeded without a TokenReview of the node-bound token")
	}
}

const syncControllerSA = "secrets-store-sync-controller"

// startSyncControllerPod runs the controller's pod in the release
// namespace (the version key's Secret is there): provider beside
// syncdrive, on a shared provider volume, with the controller's RBAC for
// tokens.
func startSyncControllerPod(t *testing.T, ctx context.Context, provider corev1.Container, args []string) *corev1.Pod {
	t.Helper()
	ns := harness.ReleaseNamespace
	rbac := fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: %[1]s, namespace: %[2]s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %[1]s-test}
rules:
  - {apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}
  - {apiGroups: [""], resources: [nodes], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[1]s-test}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[1]s-test}
subjects: [{kind: ServiceAccount, name: %[1]s, namespace: %[2]s}]
`, syncControllerSA, ns)
	if err := node.Apply(ctx, []byte(rbac)); err != nil {
		t.Fatal(err)
	}
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	provider.ImagePullPolicy = corev1.PullNever
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sync-controller", Namespace: ns},
		Spec: corev1.PodSpec{
			ServiceAccountName: syncControllerSA,
			HostNetwork:        true, // no CNI on this node
			Containers: []corev1.Container{provider, {
				Name: "manager", Image: harness.SyncDriveImage, ImagePullPolicy: corev1.PullNever, Args: args,
				Env:          []corev1.EnvVar{field("NODE_NAME", "spec.nodeName"), field("POD_NAME", "metadata.name"), field("POD_UID", "metadata.uid")},
				VolumeMounts: []corev1.VolumeMount{{Name: "providervol", MountPath: "/provider"}},
			}},
			Volumes: []corev1.Volume{{Name: "providervol", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	if _, err := node.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := node.DeletePod(ctx, ns, pod.Name); err != nil {
			t.Errorf("deleting the sync controller pod: %v", err)
		}
	})
	running, err := node.WaitPodRunning(ctx, ns, pod.Name, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return running
}

// waitSyncDone waits for syncdrive's last line and returns its results.
func waitSyncDone(t *testing.T, ctx context.Context, pod *corev1.Pod) []syncLine {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		raw, err := node.ContainerLog(pod, "manager")
		if err != nil {
			t.Fatal(err)
		}
		var out []syncLine
		for _, r := range raw {
			var l syncLine
			if err := json.Unmarshal([]byte(r), &l); err != nil {
				t.Fatalf("syncdrive printed %q: %v", r, err)
			}
			if l.Name == "fatal" {
				t.Fatalf("syncdrive: %s", l.Error)
			}
			if l.Name == "done" {
				return out
			}
			out = append(out, l)
		}
		if time.Now().After(deadline) {
			prov, _ := node.ContainerLog(pod, "vault-azure-provider")
			t.Fatalf("syncdrive did not finish within 2 minutes; it printed %+v\nprovider:\n%s", out, strings.Join(prov, "\n"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func versionKey(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	sec, err := node.Client.CoreV1().Secrets(harness.ReleaseNamespace).Get(ctx, harness.VersionKeySecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Data["key"]
}

// ssVersion is an object version as the provider computes it in either
// mode: HMAC-SHA256 under the version key of the name, a zero byte and the
// content, its first 16 bytes in hex.
func ssVersion(key []byte, name, content string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(content))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
