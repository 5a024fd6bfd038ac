package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Service accounts of the node's components.
const (
	driverServiceAccount   = "secrets-store-csi-driver" // the driver's RBAC names it
	reviewerServiceAccount = "vault-token-reviewer"
	systemNamespace        = "kube-system"
)

// driverManifests are the driver's CRDs and RBAC from its module's deploy/.
var driverManifests = []string{
	"secrets-store.csi.x-k8s.io_secretproviderclasses.yaml",
	"secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml",
	"rbac-secretproviderclass.yaml",
	"rbac-secretprovidersyncing.yaml",
}

// bootstrapObjects installs the driver's CRDs and RBAC (as its release
// does) and the service account that Vault's kubernetes auth uses for
// TokenReview (bound to system:auth-delegator, as Vault's docs say).
func (c *Cluster) bootstrapObjects() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitFor(30*time.Second, 200*time.Millisecond, "namespace kube-system", func() (bool, error) {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, systemNamespace, metav1.GetOptions{})
		return err == nil, err
	}); err != nil {
		return err
	}
	for _, f := range driverManifests {
		if err := c.ApplyFile(ctx, filepath.Join(c.opts.DriverDeployDir, f)); err != nil {
			return err
		}
	}
	for _, crd := range []string{"secretproviderclasses", "secretproviderclasspodstatuses"} {
		if err := c.waitCRD(ctx, crd+".secrets-store.csi.x-k8s.io"); err != nil {
			return err
		}
	}
	if _, err := c.Client.CoreV1().ServiceAccounts(systemNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: reviewerServiceAccount}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	_, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "vault-token-reviewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: reviewerServiceAccount, Namespace: systemNamespace}},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func (c *Cluster) waitCRD(ctx context.Context, name string) error {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	return waitFor(30*time.Second, 200*time.Millisecond, "CRD "+name+" established", func() (bool, error) {
		crd, err := c.Dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, cond := range conds {
			m, _ := cond.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

// serviceAccountToken asks the TokenRequest API for a token of a service
// account in kube-system, valid for ttl, and writes it to a file.
func (c *Cluster) serviceAccountToken(sa string, ttl time.Duration) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	secs := int64(ttl.Seconds())
	tr, err := c.Client.CoreV1().ServiceAccounts(systemNamespace).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return "", "", fmt.Errorf("token for %s: %w", sa, err)
	}
	path := c.path("tokens", sa)
	return tr.Status.Token, path, os.WriteFile(path, []byte(tr.Status.Token), 0o600)
}
