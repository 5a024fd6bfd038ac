package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/syncctl"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

const examplesDir = "../../deploy/examples"

// examplePod is what the examples' Pods say about their identity and volumes.
type examplePod struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		ServiceAccountName string `json:"serviceAccountName"`
		Volumes            []struct {
			CSI *struct {
				Driver           string            `json:"driver"`
				VolumeAttributes map[string]string `json:"volumeAttributes"`
			} `json:"csi"`
		} `json:"volumes"`
	} `json:"spec"`
}

// examplePods reads the Pods of an example file.
func examplePods(t *testing.T, path string) []examplePod {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pods []examplePod
	for _, doc := range strings.Split(string(raw), "\n---") {
		var p examplePod
		if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if p.Kind == "Pod" {
			pods = append(pods, p)
		}
	}
	return pods
}

// worldPod finds the pod of the world that an example Pod stands for: same
// namespace and service account (and, for aad-pod-identity, same name).
func worldPod(p examplePod) (world.Pod, error) {
	ns := p.Metadata.Namespace
	if ns == "" {
		ns = "default"
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	for _, wp := range []world.Pod{world.WebPod, world.BillingPod, world.LegacyPod, world.OpsPod, world.HashiCorpPod} {
		if wp.Namespace == ns && wp.ServiceAccount == sa {
			return wp, nil
		}
	}
	return world.Pod{}, fmt.Errorf("no pod of the world runs as %s/%s: align the example with test/world/seed.go", ns, sa)
}

// usedBy returns the example Pod that mounts spc.
func usedBy(pods []examplePod, spc *driver.SecretProviderClass) (examplePod, bool) {
	for _, p := range pods {
		for _, v := range p.Spec.Volumes {
			if v.CSI != nil && v.CSI.Driver == "secrets-store.csi.k8s.io" &&
				v.CSI.VolumeAttributes["secretProviderClass"] == spc.Metadata.Name && p.Metadata.Namespace == spc.Metadata.Namespace {
				return p, true
			}
		}
	}
	return examplePod{}, false
}

func TestEveryExampleMountsInTheWorld(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) < 7 {
		t.Fatalf("examples: %v %v, want at least 7 files (one per auth mode, secret sync, dynamic secret)", files, err)
	}
	modes := map[string]bool{}
	for _, file := range files {
		spcs, err := driver.LoadSPCs(file)
		if err != nil {
			t.Fatal(err)
		}
		if len(spcs) == 0 {
			t.Errorf("%s has no SecretProviderClass", file)
		}
		pods := examplePods(t, file)
		syncs, err := syncctl.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, spc := range spcs {
			if syncedBy(syncs, spc) {
				continue // TestEverySecretSyncExampleSyncs
			}
			t.Run(filepath.Base(file)+"/"+spc.Metadata.Name, func(t *testing.T) {
				modes[authModeOf(spc)] = true
				mountExample(t, spc, pods)
			})
		}
	}
	for _, m := range []string{"azure/workload", "azure/managed", "azure/podIdentity", "kubernetes", "jwt"} {
		if !modes[m] {
			t.Errorf("no example for auth mode %s (have %v)", m, modes)
		}
	}
}

func syncedBy(syncs []*syncctl.SecretSync, spc *driver.SecretProviderClass) bool {
	for _, ss := range syncs {
		if ss.Class.Metadata == spc.Metadata {
			return true
		}
	}
	return false
}

// TestEverySecretSyncExampleSyncs runs every SecretSync of the examples,
// its class changed only in vaultAddress, through a sync-controller
// provider as the controller does, for the world's service account it
// names, and checks every key of the Secret.
func TestEverySecretSyncExampleSyncs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	must(t, err)
	p := startSync(t, syncKeyFile(t))
	c := controllerPod(t, p, "secrets-store-sync-controller-0")
	modes := map[string]bool{}
	for _, file := range files {
		syncs, err := syncctl.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, ss := range syncs {
			t.Run(filepath.Base(file)+"/"+ss.Name, func(t *testing.T) {
				modes[authModeOf(ss.Class)] = true
				if _, err := worldPod(examplePodOf(ss.Namespace, ss.ServiceAccountName)); err != nil {
					t.Fatal(err)
				}
				ss.Class.Spec.Parameters["vaultAddress"] = theWorld.Vault.Addr()
				res := mustSync(t, c, ss)
				if len(res.Data) != len(ss.Data) || len(ss.Data) == 0 {
					t.Errorf("Secret %s has %d keys, want %d", ss.Name, len(res.Data), len(ss.Data))
				}
				for k, v := range res.Data {
					if len(v) == 0 {
						t.Errorf("Secret %s key %s is empty", ss.Name, k)
					}
				}
			})
		}
	}
	for _, m := range []string{"azure/workload", "kubernetes"} {
		if !modes[m] {
			t.Errorf("no SecretSync example for auth mode %s (have %v)", m, modes)
		}
	}
}

func examplePodOf(ns, sa string) examplePod {
	var p examplePod
	p.Metadata.Namespace, p.Spec.ServiceAccountName = ns, sa
	return p
}

func authModeOf(spc *driver.SecretProviderClass) string {
	p := spc.Spec.Parameters
	switch {
	case p["vaultAuthMethod"] != "":
		return p["vaultAuthMethod"]
	case p["azureIdentity"] != "":
		return "azure/" + p["azureIdentity"]
	case p["clientID"] != "":
		return "azure/workload"
	}
	return "kubernetes"
}

// mountExample mounts spc, changed only in vaultAddress, for the world's pod
// that the example's Pod stands for, and checks every file and synced Secret.
func mountExample(t *testing.T, spc *driver.SecretProviderClass, pods []examplePod) {
	pod, ok := usedBy(pods, spc)
	if !ok {
		t.Fatalf("no Pod in the example mounts SecretProviderClass %q", spc.Metadata.Name)
	}
	wp, err := worldPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	if spc.Spec.Parameters["azureIdentity"] == "podIdentity" && pod.Metadata.Name != wp.Name {
		t.Fatalf("aad-pod-identity finds the identity by pod name: the example's Pod is %q, the world's %q", pod.Metadata.Name, wp.Name)
	}
	spc.Spec.Parameters["vaultAddress"] = theWorld.Vault.Addr()
	v, versions, err := mount(t, prov, spc, wp, nil)
	if err != nil {
		t.Fatalf("mounting %s for %s/%s: %v", spc.Metadata.Name, wp.Namespace, wp.Name, err)
	}
	objects := strings.Count(spc.Spec.Parameters["objects"], "objectName:")
	if len(versions) != objects {
		t.Errorf("%d object versions, want %d", len(versions), objects)
	}
	for name := range versions {
		if content := readFile(t, v, name); content == "" {
			t.Errorf("object %s is empty", name)
		}
	}
	for _, so := range spc.Spec.SecretObjects {
		data, err := driver.SyncedSecret(v.TargetPath, so)
		if err != nil {
			t.Fatalf("secretObjects %s: %v", so.SecretName, err)
		}
		for key, val := range data {
			if len(val) == 0 {
				t.Errorf("synced Secret %s key %s is empty", so.SecretName, key)
			}
		}
	}
}
