package manifests

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

const versionKeyFlag = "--version-key-file=/etc/vault-azure-csi-provider/version-key/key"

// versionKeyVolume returns the Secret the DaemonSet mounts for the version
// key, and checks that the flag points into that mount.
func versionKeyVolume(t *testing.T, r *rendered) (secretName string, ok bool) {
	t.Helper()
	c := r.container(t)
	for _, v := range r.daemonSet(t).Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		m, mounted := volumeMount(c, v.Name)
		if !mounted || !m.ReadOnly || !hasArg(c, "--version-key-file="+m.MountPath+"/key") {
			t.Errorf("the version key Secret %s is not mounted read-only where --version-key-file points: mounts %+v args %q", v.Secret.SecretName, c.VolumeMounts, c.Args)
		}
		return v.Secret.SecretName, true
	}
	if hasArg(c, versionKeyFlag) {
		t.Errorf("--version-key-file without a Secret volume: %q", c.Args)
	}
	return "", false
}

func volumeMount(c *corev1.Container, name string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

func secrets(r *rendered) []*corev1.Secret {
	var out []*corev1.Secret
	for _, o := range r.objs {
		if s, ok := o.(*corev1.Secret); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestChartVersionKey: by default the chart generates a random key into a
// Secret and mounts it; a named Secret of the user's is mounted instead;
// without either the flag is absent (versions change on restart).
func TestChartVersionKey(t *testing.T) {
	t.Run("generated", func(t *testing.T) {
		r := render(t, "")
		name, ok := versionKeyVolume(t, r)
		ss := secrets(r)
		if !ok || len(ss) != 1 || ss[0].Name != name || name != "vault-azure-csi-provider-version-key" {
			t.Fatalf("mounted Secret %q, rendered %d Secrets; want the generated vault-azure-csi-provider-version-key", name, len(ss))
		}
		key := ss[0].Data["key"]
		if len(key) < 64 {
			t.Errorf("generated key has %d bytes, want 64 random characters", len(key))
		}
		if other := secrets(render(t, ""))[0].Data["key"]; string(other) == string(key) {
			t.Error("two fresh installs generated the same key")
		}
	})
	t.Run("user's Secret", func(t *testing.T) {
		r := render(t, "versionKey: {create: false, secretName: my-key}")
		if name, ok := versionKeyVolume(t, r); !ok || name != "my-key" || len(secrets(r)) != 0 {
			t.Errorf("mounted %q (%v) and rendered %d Secrets; want my-key mounted and none rendered", name, ok, len(secrets(r)))
		}
	})
	t.Run("off", func(t *testing.T) {
		r := render(t, "versionKey: {create: false}\nstate: {enabled: false}")
		if name, ok := versionKeyVolume(t, r); ok || len(secrets(r)) != 0 {
			t.Errorf("mounted %q and rendered %d Secrets with versionKey.create false", name, len(secrets(r)))
		}
	})
	t.Run("plain manifest names the Secret to create", func(t *testing.T) {
		r := render(t, DeployValues)
		if name, ok := versionKeyVolume(t, r); !ok || name != "vault-azure-csi-provider-version-key" || len(secrets(r)) != 0 {
			t.Errorf("deploy manifest mounts %q and renders %d Secrets", name, len(secrets(r)))
		}
	})
}

// TestChartVersionKeySurvivesUpgrade renders the chart as "helm upgrade"
// does, with lookup answered from a cluster that already has the Secret:
// the key stays the one generated at install.
func TestChartVersionKeySurvivesUpgrade(t *testing.T) {
	existing := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "vault-azure-csi-provider-version-key", Namespace: ReleaseNamespace},
		Data:       map[string][]byte{"key": []byte("key-generated-at-install-0123456789abcdefghijklmnopqrstuvwxyzABCDEF")},
	}
	upgraded := renderedSecret(t, existing)
	if string(upgraded.Data["key"]) != string(existing.Data["key"]) {
		t.Errorf("upgrade rendered key %q, want the installed %q", upgraded.Data["key"], existing.Data["key"])
	}
	if fresh := renderedSecret(t, nil); string(fresh.Data["key"]) == string(existing.Data["key"]) || len(fresh.Data["key"]) < 64 {
		t.Errorf("install without a Secret in the cluster rendered key %q", fresh.Data["key"])
	}
}

// renderedSecret renders the version key's Secret as helm install (nil) or
// helm upgrade (existing: the Secret in the cluster) do.
func renderedSecret(t *testing.T, existing *corev1.Secret) *corev1.Secret {
	t.Helper()
	var objs []runtime.Object
	if existing != nil {
		objs = append(objs, existing)
	}
	m, _, err := RenderInstall(ChartDir, ReleaseName, ReleaseNamespace, nil, existing != nil, objs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range SplitDocs("rendered", m) {
		if !strings.Contains(doc.Text, "kind: Secret") {
			continue
		}
		var s corev1.Secret
		if err := yaml.UnmarshalStrict([]byte(doc.Text), &s); err != nil {
			t.Fatalf("%v\n%s", err, doc.Text)
		}
		if key := string(s.Data["key"]); strings.TrimSpace(key) != key {
			t.Errorf("the key has surrounding white space: %q", key)
		}
		if s.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("the generated Secret's annotations = %v, want helm.sh/resource-policy: keep (helm uninstall must leave the key)", s.Annotations)
		}
		return &s
	}
	t.Fatalf("no Secret rendered:\n%s", m)
	return nil
}

// TestChartVersionKeyOffline: a render without a cluster (helm template, as
// Argo CD renders) refuses to generate a key, which would change at every
// render and make the driver rewrite every pod's files; with
// versionKey.existingSecret two renders are the same, so the provider keeps
// reading the one key the Secret holds.
func TestChartVersionKeyOffline(t *testing.T) {
	_, _, err := Render(ChartDir, ReleaseName, ReleaseNamespace, nil)
	if err == nil || !strings.Contains(err.Error(), "versionKey.existingSecret=vault-azure-csi-provider-version-key") || !strings.Contains(err.Error(), "helm template") {
		t.Fatalf("helm template with the defaults: %v; want a refusal that names versionKey.existingSecret", err)
	}
	vals, err := Values("versionKey: {existingSecret: shop-version-key}")
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := Render(ChartDir, ReleaseName, ReleaseNamespace, vals)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := Render(ChartDir, ReleaseName, ReleaseNamespace, vals)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("two helm template renders with versionKey.existingSecret differ")
	}
	r := render(t, "versionKey: {existingSecret: shop-version-key}")
	if name, ok := versionKeyVolume(t, r); !ok || name != "shop-version-key" || len(secrets(r)) != 0 {
		t.Errorf("mounted %q (%v), rendered %d Secrets; want the existing shop-version-key mounted and none rendered", name, ok, len(secrets(r)))
	}
}
