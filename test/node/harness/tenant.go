package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Tenant is a namespace and service account with everything a pod there
// needs to read secret/data/<namespace>/* from Vault: a user-assigned managed
// identity federated to the service account (in the Azure emulator), a
// Vault policy, and azure, kubernetes and jwt roles named after the
// namespace that grant the policy to that identity or service account.
type Tenant struct {
	Namespace, ServiceAccount string
	Identity                  WorkloadIdentity
}

// AddTenant creates a Tenant.
func (c *Cluster) AddTenant(ctx context.Context, ns, sa string) (*Tenant, error) {
	if err := c.EnsureServiceAccount(ctx, ns, sa); err != nil {
		return nil, err
	}
	t := &Tenant{Namespace: ns, ServiceAccount: sa, Identity: WorkloadIdentity{
		Name: ns + "-" + sa, ClientID: NewUUID(), ObjectID: NewUUID(), Namespace: ns, ServiceAccount: sa,
	}}
	if err := c.World.AddWorkloadIdentity(ctx, t.Identity); err != nil {
		return nil, err
	}
	writes := []struct {
		path string
		data map[string]any
	}{
		{"sys/policies/acl/" + ns, map[string]any{
			"policy": fmt.Sprintf(`path "secret/data/%s/*" { capabilities = ["read"] }`, ns),
		}},
		{"auth/azure/role/" + ns, map[string]any{
			"bound_service_principal_ids": t.Identity.ObjectID, "token_policies": ns, "token_ttl": "1h",
		}},
		{"auth/kubernetes/role/" + ns, map[string]any{
			"bound_service_account_names": sa, "bound_service_account_namespaces": ns,
			"audience": "vault", "token_policies": ns, "token_ttl": "1h",
		}},
		{"auth/jwt/role/" + ns, map[string]any{
			"role_type": "jwt", "user_claim": "sub", "bound_audiences": "vault",
			"bound_subject": t.Subject(), "token_policies": ns, "token_ttl": "1h",
		}},
	}
	for _, w := range writes {
		if err := c.World.VaultWrite(ctx, w.path, w.data); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Subject is the tenant's service-account token subject.
func (t *Tenant) Subject() string {
	return "system:serviceaccount:" + t.Namespace + ":" + t.ServiceAccount
}

// WorkloadParams are the parameters of a class that logs in to auth/azure
// with the tenant's workload identity.
func (t *Tenant) WorkloadParams() map[string]string {
	return map[string]string{"roleName": t.Namespace, "clientID": t.Identity.ClientID}
}

// Object is one entry of a SecretProviderClass's objects parameter.
type Object struct {
	Name, Path, Key string
	// Perm is filePermission in octal ("0640"); empty: the mount's default.
	Perm string
}

// SecretProviderClass builds a class of the provider with parameters,
// objects and secretObjects (YAML-shaped maps).
func SecretProviderClass(ns, name string, params map[string]string, objects []Object, secretObjects ...map[string]any) *unstructured.Unstructured {
	var b strings.Builder
	for _, o := range objects {
		fmt.Fprintf(&b, "- objectName: %q\n  secretPath: %q\n  secretKey: %q\n", o.Name, o.Path, o.Key)
		if o.Perm != "" {
			fmt.Fprintf(&b, "  filePermission: %s\n", o.Perm)
		}
	}
	p := map[string]any{"objects": b.String()}
	for k, v := range params {
		p[k] = v
	}
	spec := map[string]any{"provider": "vault-azure", "parameters": p}
	if len(secretObjects) > 0 {
		var so []any
		for _, o := range secretObjects {
			so = append(so, o)
		}
		spec["secretObjects"] = so
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}

// AppPod describes a pod of the test app with a class mounted read-only at
// /mnt/secrets (volume "secrets"): it prints the files and env vars.
type AppPod struct {
	ServiceAccount, Class string
	Files                 []string             // names under /mnt/secrets
	EnvFrom               map[string][2]string // env var -> {Secret, key}
}

// Spec is the pod spec: host network (no CNI here), image never pulled,
// no API token, a one-second grace period.
func (p AppPod) Spec() corev1.PodSpec {
	var args []string
	for _, f := range p.Files {
		args = append(args, "-file=/mnt/secrets/"+f)
	}
	var env []corev1.EnvVar
	for name, ref := range p.EnvFrom {
		args = append(args, "-env="+name)
		env = append(env, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref[0]}, Key: ref[1],
		}}})
	}
	no, yes, grace := false, true, int64(1)
	return corev1.PodSpec{
		ServiceAccountName:            p.ServiceAccount,
		AutomountServiceAccountToken:  &no,
		HostNetwork:                   true,
		TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{
			Name: "app", Image: AppImage, ImagePullPolicy: corev1.PullNever,
			Args: args, Env: env,
			VolumeMounts: []corev1.VolumeMount{{Name: "secrets", MountPath: "/mnt/secrets", ReadOnly: true}},
		}},
		Volumes: []corev1.Volume{{Name: "secrets", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
			Driver: DriverName, ReadOnly: &yes,
			VolumeAttributes: map[string]string{"secretProviderClass": p.Class},
		}}}},
	}
}

// NewUUID returns a random version 4 UUID.
func NewUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Pod is the pod named name in namespace ns.
func (p AppPod) Pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: p.Spec()}
}
