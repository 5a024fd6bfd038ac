package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/harness"
)

// An AKS identity binding on the real node: the kubelet requests the pod's
// api://AKSIdentityBinding token for the driver (the chart's CSIDriver
// tokenRequests), the provider exchanges it at the world's token proxy
// (server name derived from the cluster id in its certificate), and the
// proxy authorizes with a SubjectAccessReview at this apiserver, as AKS's
// does. Without the ClusterRole the pod's event names the missing rule;
// with it the pod reads its secret.
func TestIdentityBindingWithRealTokensAndRBAC(t *testing.T) {
	s := newScenario(t, "t-binding", "web")
	value := randomValue("ib")
	s.putSecret("api", map[string]any{"key": value})
	if err := node.World.AddIdentityBinding(s.ctx, harness.IdentityBinding{Name: "t-binding", ClientID: s.identity.ClientID, ObjectID: s.identity.ObjectID}); err != nil {
		t.Fatal(err)
	}
	s.spc("ib", map[string]string{"roleName": s.ns, "azureIdentity": "identityBinding", "clientID": s.identity.ClientID},
		[]object{{Name: "api-key", Path: "secret/data/t-binding/api", Key: "key"}})

	reviews := func() float64 {
		n, err := node.APIServerRequests(s.ctx, `resource="subjectaccessreviews"`, `code="201"`)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := reviews()
	s.startPod(appPod{name: "web-denied", spc: "ib", files: []string{"api-key"}})
	ev, err := node.WaitEvent(s.ctx, s.ns, "web-denied", "use-managed-identity", 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FailedMount", "the proxy refused (403)", "cid.wi.aks.azure.com", s.identity.ClientID, "system:serviceaccount:t-binding:web"} {
		if !strings.Contains(ev, want) {
			t.Errorf("event %q lacks %q", ev, want)
		}
	}
	if reviews() <= before {
		t.Error("the token proxy refused without a SubjectAccessReview at the apiserver")
	}

	role := "use-" + s.identity.ClientID
	_, err = node.Client.RbacV1().ClusterRoles().Create(s.ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"cid.wi.aks.azure.com"}, Resources: []string{s.identity.ClientID}, Verbs: []string{"use-managed-identity"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = node.Client.RbacV1().ClusterRoleBindings().Create(s.ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: s.sa, Namespace: s.ns}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = node.Client.RbacV1().ClusterRoleBindings().Delete(ctx, role, metav1.DeleteOptions{})
		_ = node.Client.RbacV1().ClusterRoles().Delete(ctx, role, metav1.DeleteOptions{})
	})
	s.startPod(appPod{name: "web", spc: "ib", files: []string{"api-key"}})
	pod := s.running("web")
	if l := s.waitOutput(pod, "api-key", 30*time.Second, func(l line) bool { return l.File != "" }); l.Content != value {
		t.Errorf("the container read %q (error %q), want %q", l.Content, l.Error, value)
	}
	if logins := loginsOf(t, s.ctx); logins[s.identity.ObjectID] != 1 {
		t.Errorf("Vault saw %d logins of the bound identity %s, want 1", logins[s.identity.ObjectID], s.identity.ObjectID)
	}
}
