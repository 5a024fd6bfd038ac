package manifests

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// syncControllerValues are the values the Secrets Store Sync Controller's
// chart takes from the ConfigMap (its providerContainer and
// tokenRequestAudience), decoded strictly.
type syncControllerValues struct {
	TokenRequestAudience []struct {
		Audience string `json:"audience"`
	} `json:"tokenRequestAudience"`
	ProviderContainer []corev1.Container `json:"providerContainer"`
}

const syncOn = `
syncController: {enabled: true}
vault: {address: "https://vault.vault.svc:8200", namespace: platform}
azure: {tenantID: 7f3b1c52-3f0e-4b7a-9a51-6c1f2d9e8a40, allowNodeIdentityNamespaces: [ops]}
`

func (r *rendered) syncController(t *testing.T) (*corev1.Container, syncControllerValues) {
	t.Helper()
	for _, o := range r.objs {
		cm, ok := o.(*corev1.ConfigMap)
		if !ok || cm.Name != ReleaseName+"-sync-controller" {
			continue
		}
		var v syncControllerValues
		if err := yaml.UnmarshalStrict([]byte(cm.Data["values.yaml"]), &v); err != nil {
			t.Fatalf("the ConfigMap's values.yaml: %v\n%s", err, cm.Data["values.yaml"])
		}
		if len(v.ProviderContainer) != 1 {
			t.Fatalf("%d provider containers, want 1", len(v.ProviderContainer))
		}
		return &v.ProviderContainer[0], v
	}
	t.Fatal("no sync-controller ConfigMap rendered")
	return nil, syncControllerValues{}
}

func (r *rendered) versionKey(t *testing.T) *corev1.Secret {
	t.Helper()
	for _, o := range r.objs {
		if s, ok := o.(*corev1.Secret); ok && s.Namespace == ReleaseNamespace {
			return s
		}
	}
	t.Fatal("no version key Secret rendered")
	return nil
}

// TestChartRendersTheSyncControllerContainer: the ConfigMap holds the
// controller chart's providerContainer: sync-controller mode on the
// controller's provider volume, the version key from the chart's Secret,
// probes, the token audiences; the node-identity rules stay with the
// DaemonSet; with driver.enabled false there is no DaemonSet.
func TestChartRendersTheSyncControllerContainer(t *testing.T) {
	r := render(t, syncOn)
	c, v := r.syncController(t)
	for _, arg := range []string{"--mode=sync-controller", "--endpoint=/provider/vault-azure.sock", "--version-key-env=VERSION_KEY", "--sync-poll-interval=12h",
		"--vault-addr=https://vault.vault.svc:8200", "--vault-namespace=platform", "--kubelet-pod-resources-socket=", "--health-addr=:8098"} {
		if !hasArg(c, arg) {
			t.Errorf("provider container lacks %s: %q", arg, c.Args)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--allow-node-identity") {
			t.Errorf("the controller's container got %s: in its pod the node's identity would be every SecretSync's", a)
		}
	}
	key := r.versionKey(t)
	if len(c.Env) == 0 || c.Env[0].Name != "VERSION_KEY" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil ||
		c.Env[0].ValueFrom.SecretKeyRef.Name != key.Name || c.Env[0].ValueFrom.SecretKeyRef.Key != "key" {
		t.Errorf("VERSION_KEY is not the chart's Secret %s (key): %+v", key.Name, c.Env)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != "providervol" || c.VolumeMounts[0].MountPath != "/provider" {
		t.Errorf("volume mounts %+v, want the controller's providervol at /provider", c.VolumeMounts)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Port.IntValue() != 8098 ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes %+v / %+v, want /healthz and /readyz on 8098", c.LivenessProbe, c.ReadinessProbe)
	}
	if got := fmt.Sprint(v.TokenRequestAudience); got != "[{api://AzureADTokenExchange} {api://AKSIdentityBinding} {vault}]" {
		t.Errorf("tokenRequestAudience %s, want workload identity's, identity bindings' and vault", got)
	}
	if !hasArg(r.container(t), "--allow-node-identity-namespaces=ops") {
		t.Error("the DaemonSet lost its node-identity rule")
	}
	if !strings.Contains(r.notes, "get configmap "+ReleaseName+"-sync-controller") {
		t.Errorf("NOTES do not say how to pass the container to the controller's chart:\n%s", r.notes)
	}
	if off := render(t, syncOn+"driver: {enabled: false}\n"); off.kinds["DaemonSet"] != 0 || strings.Contains(off.notes, "rollout status daemonset") {
		t.Errorf("%d DaemonSets (and NOTES about one) with driver.enabled false:\n%s", off.kinds["DaemonSet"], off.notes)
	}
	if n := render(t, "").kinds["ConfigMap"]; n != 0 {
		t.Errorf("%d ConfigMaps rendered by default", n)
	}
}

// TestSyncControllerContainerRuns starts the provider binary with the
// rendered container's args and environment (the endpoint and health
// address moved to free places): it is ready, which its /readyz answers
// only once the socket serves Version.
func TestSyncControllerContainerRuns(t *testing.T) {
	r := render(t, syncOn)
	c, _ := r.syncController(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "vault-azure.sock")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health := l.Addr().String()
	l.Close()
	var args []string
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--endpoint="):
			a = "--endpoint=" + socket
		case strings.HasPrefix(a, "--health-addr="):
			a = "--health-addr=" + health
		case strings.HasPrefix(a, "--metrics-addr="):
			continue
		}
		args = append(args, a)
	}
	cmd := exec.Command(providerBinary(t), args...)
	cmd.Env = append(os.Environ(), "VERSION_KEY="+string(r.versionKey(t).Data["key"]))
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := false
		if resp, err := http.Get("http://" + health + "/readyz"); err == nil {
			resp.Body.Close()
			ok = resp.StatusCode == http.StatusOK
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rendered container is not ready after 15 s:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "sync-controller") || !strings.Contains(logs.String(), "keyed by --version-key-env") {
		t.Errorf("the provider did not start in sync-controller mode with the version key:\n%s", logs.String())
	}
}

// lockedBuffer is the process's output, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
