package manifests

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	spcv1 "sigs.k8s.io/secrets-store-csi-driver/apis/v1"
	"sigs.k8s.io/yaml"
)

func TestStrictDecodingRejectsMistakes(t *testing.T) {
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, doc, want string }{
		{"unknown field in a pod spec", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: a, image: b, imagePullPolicyy: Always}]\n", "imagePullPolicyy"},
		{"misspelt SecretProviderClass field", "apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata: {name: x}\nspec:\n  provider: vault-azure\n  paramters: {roleName: r}\n", "paramters"},
		{"duplicate field", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nmetadata: {name: y}\n", "metadata"},
		{"unknown kind", "apiVersion: v1\nkind: Pood\nmetadata: {name: x}\n", "Pood"},
		{"wrong type", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec: {minReadySeconds: soon}\n", "minReadySeconds"},
		{"unknown SecretSync field", "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {name: x}\nspec:\n  serviceAccountName: web\n  secretProviderClassName: c\n  secretObjects: {data: [{sourcePath: a, targetKey: a}]}\n", "secretObjects"},
		{"SecretSync sourcePath with a slash", "apiVersion: secret-sync.x-k8s.io/v1alpha1\nkind: SecretSync\nmetadata: {name: x}\nspec:\n  serviceAccountName: web\n  secretProviderClassName: c\n  secretObject: {data: [{sourcePath: db/password, targetKey: a}]}\n", "db/password"},
		{"unknown ServiceMonitor field", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  selector: {}\n  endpoint: [{port: metrics}]\n", "endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := dec.Decode(Doc{Source: tc.name, Text: tc.doc})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// exampleSet is one example file's objects, by kind.
type exampleSet struct {
	spcs  []*spcv1.SecretProviderClass
	pods  []*corev1.Pod
	syncs []*SecretSync
	sas   map[string]bool // namespace/name
	roles map[string]*rbacv1.ClusterRole
	binds []*rbacv1.ClusterRoleBinding
}

func loadExample(t *testing.T, dec *Decoder, path string) *exampleSet {
	t.Helper()
	objs, err := dec.DecodeFile(path)
	if err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	set := &exampleSet{sas: map[string]bool{}, roles: map[string]*rbacv1.ClusterRole{}}
	for _, o := range objs {
		switch v := o.(type) {
		case *spcv1.SecretProviderClass:
			set.spcs = append(set.spcs, v)
		case *corev1.Pod:
			set.pods = append(set.pods, v)
		case *corev1.ServiceAccount:
			set.sas[v.Namespace+"/"+v.Name] = true
		case *SecretSync:
			set.syncs = append(set.syncs, v)
		case *rbacv1.ClusterRole: // identity bindings' use-managed-identity
			set.roles[v.Name] = v
		case *rbacv1.ClusterRoleBinding:
			set.binds = append(set.binds, v)
		default:
			t.Errorf("unexpected %T in an example", o)
		}
	}
	return set
}

func TestExamplesDecodeStrictlyAndHangTogether(t *testing.T) {
	dec, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(ExamplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			set := loadExample(t, dec, f)
			if len(set.spcs) == 0 || len(set.pods)+len(set.syncs) == 0 {
				t.Fatalf("%d SecretProviderClasses, %d Pods and %d SecretSyncs: an example needs a class and a Pod or SecretSync", len(set.spcs), len(set.pods), len(set.syncs))
			}
			for _, spc := range set.spcs {
				checkSPC(t, spc)
				checkIdentityBindingRBAC(t, set, spc)
			}
			for _, pod := range set.pods {
				checkPod(t, set, pod)
			}
			for _, ss := range set.syncs {
				checkSecretSync(t, set, ss)
			}
		})
	}
}

// checkSPC checks the class is for this provider and its secretObjects name
// mounted objects.
func checkSPC(t *testing.T, spc *spcv1.SecretProviderClass) {
	t.Helper()
	if spc.Spec.Provider != "vault-azure" {
		t.Errorf("%s: provider %q, want vault-azure", spc.Name, spc.Spec.Provider)
	}
	names := objectNames(t, spc)
	for _, so := range spc.Spec.SecretObjects {
		for _, d := range so.Data {
			if !names[d.ObjectName] {
				t.Errorf("%s: secretObjects %s uses object %q, which is not mounted", spc.Name, so.SecretName, d.ObjectName)
			}
		}
	}
}

// objectNames are the objectNames of spc's objects.
func objectNames(t *testing.T, spc *spcv1.SecretProviderClass) map[string]bool {
	t.Helper()
	var objects []struct {
		ObjectName string `json:"objectName"`
	}
	if err := yaml.Unmarshal([]byte(spc.Spec.Parameters["objects"]), &objects); err != nil || len(objects) == 0 {
		t.Fatalf("%s: objects parameter: %v (%d objects)", spc.Name, err, len(objects))
	}
	names := map[string]bool{}
	for _, o := range objects {
		names[o.ObjectName] = true
	}
	return names
}

// checkSecretSync checks that the SecretSync names a class of its
// namespace in the file and a service account of the file, and that each
// sourcePath is one of the class's objects.
func checkSecretSync(t *testing.T, set *exampleSet, ss *SecretSync) {
	t.Helper()
	i := slices.IndexFunc(set.spcs, func(s *spcv1.SecretProviderClass) bool {
		return s.Name == ss.Spec.SecretProviderClassName && s.Namespace == ss.Namespace
	})
	if i < 0 {
		t.Fatalf("SecretSync %s: SecretProviderClass %s/%s is not in the example", ss.Name, ss.Namespace, ss.Spec.SecretProviderClassName)
	}
	if !set.sas[ss.Namespace+"/"+ss.Spec.ServiceAccountName] {
		t.Errorf("SecretSync %s: service account %s/%s is not in the example", ss.Name, ss.Namespace, ss.Spec.ServiceAccountName)
	}
	names := objectNames(t, set.spcs[i])
	for _, d := range ss.Spec.SecretObject.Data {
		if !names[d.SourcePath] {
			t.Errorf("SecretSync %s: sourcePath %q is not an object of %s", ss.Name, d.SourcePath, set.spcs[i].Name)
		}
	}
}

// checkPod checks that the pod's CSI volumes name classes of the file, its
// service account exists, and its secretKeyRefs name synced Secrets.
func checkPod(t *testing.T, set *exampleSet, pod *corev1.Pod) {
	t.Helper()
	sa := pod.Spec.ServiceAccountName
	if sa != "" && sa != "default" && !set.sas[pod.Namespace+"/"+sa] {
		t.Errorf("pod %s: service account %s/%s is not in the example", pod.Name, pod.Namespace, sa)
	}
	synced := map[string][]string{}
	for _, spc := range set.spcs {
		for _, so := range spc.Spec.SecretObjects {
			for _, d := range so.Data {
				synced[so.SecretName] = append(synced[so.SecretName], d.Key)
			}
		}
	}
	csi := 0
	for _, v := range pod.Spec.Volumes {
		if v.CSI == nil {
			continue
		}
		csi++
		name := v.CSI.VolumeAttributes["secretProviderClass"]
		found := slices.ContainsFunc(set.spcs, func(s *spcv1.SecretProviderClass) bool { return s.Name == name && s.Namespace == pod.Namespace })
		if v.CSI.Driver != "secrets-store.csi.k8s.io" || v.CSI.ReadOnly == nil || !*v.CSI.ReadOnly || !found {
			t.Errorf("pod %s volume %s: driver %q readOnly %v class %q found %v", pod.Name, v.Name, v.CSI.Driver, v.CSI.ReadOnly, name, found)
		}
	}
	if csi == 0 {
		t.Errorf("pod %s mounts no CSI volume", pod.Name)
	}
	for _, c := range pod.Spec.Containers {
		for _, e := range c.Env {
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && !slices.Contains(synced[ref.SecretKeyRef.Name], ref.SecretKeyRef.Key) {
				t.Errorf("pod %s env %s reads Secret %s key %s, which no secretObjects syncs", pod.Name, e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
			}
		}
	}
}

// checkIdentityBindingRBAC: a class with an AKS identity binding needs RBAC
// that lets the service account of each Pod mounting it use the class's
// managed identity (use-managed-identity on cid.wi.aks.azure.com/<clientID>),
// as the token proxy checks; the example must carry it.
func checkIdentityBindingRBAC(t *testing.T, set *exampleSet, spc *spcv1.SecretProviderClass) {
	t.Helper()
	p := spc.Spec.Parameters
	if p["azureIdentity"] != "identityBinding" && p["useAzureTokenProxy"] != "true" {
		return
	}
	allows := func(ns, sa string) bool {
		for _, b := range set.binds {
			role := set.roles[b.RoleRef.Name]
			if b.RoleRef.Kind != "ClusterRole" || role == nil {
				continue
			}
			granted := slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Contains(r.APIGroups, "cid.wi.aks.azure.com") && slices.Contains(r.Resources, p["clientID"]) && slices.Contains(r.Verbs, "use-managed-identity")
			})
			if granted && slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Namespace == ns && s.Name == sa }) {
				return true
			}
		}
		return false
	}
	for _, pod := range set.pods {
		for _, v := range pod.Spec.Volumes {
			if v.CSI != nil && v.CSI.VolumeAttributes["secretProviderClass"] == spc.Name && pod.Namespace == spc.Namespace && !allows(pod.Namespace, pod.Spec.ServiceAccountName) {
				t.Errorf("%s: no ClusterRole bound to %s/%s grants use-managed-identity on cid.wi.aks.azure.com/%s", spc.Name, pod.Namespace, pod.Spec.ServiceAccountName, p["clientID"])
			}
		}
	}
}
