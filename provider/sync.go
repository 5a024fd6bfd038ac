package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/pods"
)

// The Secrets Store Sync Controller (kubernetes-sigs/secrets-store-sync-
// controller) runs this provider as a container of its own pod and calls
// Mount for each SecretSync: with the class's parameters, the SecretSync's
// namespace and service account, service-account tokens it requested for
// them, and the pod name and UID of the controller itself, which are the
// same for every SecretSync of every namespace. It never calls Unmount and
// polls again at its --rotation-poll-interval (12 h by default).
//
// In that mode (Config.SyncController) the workload is what the token
// proves — namespace and service account — and the class it asks with:
// the request's pod is replaced by one named after them, so caches,
// coalescing and kept dynamic secrets never depend on the controller's
// pod; identities the host lends (the node's managed identity,
// aad-pod-identity) are refused, since in the controller's pod they would
// be the same for every SecretSync; and kept dynamic secrets live while
// the SecretSync keeps asking (see syncLiveness).

// SyncTargetPath is the target path the sync controller sends in every
// MountRequest; nothing is ever written there.
const SyncTargetPath = "/mnt/secrets-store"

// DefaultSyncPollInterval is the sync controller's default
// --rotation-poll-interval.
const DefaultSyncPollInterval = 12 * time.Hour

// SyncRevokeAfter is how long a dynamic secret kept for a SecretSync
// lives without being asked for, when the controller polls every poll: two
// polls and a margin of one more, at most an hour (25 h for the default
// 12 h), so one failed poll does not revoke a credential that a synced
// Secret still holds.
func SyncRevokeAfter(poll time.Duration) time.Duration { return 2*poll + min(poll, time.Hour) }

// checkCaller refuses a request of the sync controller when the provider
// serves the driver: there, the node's identity would be lent to every
// SecretSync, and the controller's pod name would key what is per pod.
func (p *Provider) checkCaller(targetPath string) error {
	if !p.cfg.SyncController && targetPath == SyncTargetPath {
		return &auth.Error{Kind: auth.KindConfig, Err: fmt.Errorf(
			"this request comes from the Secrets Store Sync Controller (target path %s), but this provider serves the Secrets Store CSI Driver: "+
				"run the controller's provider container with --mode=sync-controller (see README \"Sync to Kubernetes Secrets without a volume\")", SyncTargetPath)}
	}
	return nil
}

// syncWorkload returns prm as the sync controller's request of a workload:
// its pod is the workload (namespace, service account, class), not the
// controller's pod; it refuses identities not proven by the token.
func (p *Provider) syncWorkload(prm *params.Params) (*params.Params, error) {
	if !p.cfg.SyncController {
		return prm, nil
	}
	if prm.Pod.Namespace == "" || prm.Pod.ServiceAccount == "" {
		return nil, &auth.Error{Kind: auth.KindConfig, Err: fmt.Errorf(
			"the request names no namespace or service account (csi.storage.k8s.io/pod.namespace, csi.storage.k8s.io/serviceAccount.name): set serviceAccountName on the SecretSync")}
	}
	m, ok := p.auth.Methods()[prm.AuthMethod].(auth.TokenProven)
	if !ok {
		return nil, syncRefusal(prm, "an identity its service-account token does not prove")
	}
	if proven, lent := m.ProvenByToken(&auth.Request{Method: prm.AuthMethod, Params: prm.MethodParams}); !proven {
		return nil, syncRefusal(prm, lent)
	}
	out := *prm
	out.Pod = syncPod(prm)
	return &out, nil
}

func syncRefusal(prm *params.Params, lent string) error {
	return &auth.Error{Kind: auth.KindConfig, Err: fmt.Errorf(
		"this provider serves the Secrets Store Sync Controller (--mode=sync-controller), where it runs in the controller's pod for every SecretSync of every namespace: "+
			"this class would log in as %s, not as service account %s/%s, so any namespace could use it; "+
			"log in with the service account's own token instead: azureIdentity: workload (workload identity) or vaultAuthMethod: kubernetes or jwt",
		lent, prm.Pod.Namespace, prm.Pod.ServiceAccount)}
}

// syncPod is the pod a SecretSync's request is served as: named and
// identified by its namespace, service account and class, so two
// SecretSyncs share a kept secret only when all three are the same (they
// cannot be told apart: the controller does not send the SecretSync's
// name), and nothing changes when the controller's pod is replaced.
func syncPod(prm *params.Params) auth.Pod {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s%d:%s%s", len(prm.Pod.Namespace), prm.Pod.Namespace, len(prm.Pod.ServiceAccount), prm.Pod.ServiceAccount, prm.Class)
	id := hex.EncodeToString(h.Sum(nil)[:16])
	return auth.Pod{
		Namespace:      prm.Pod.Namespace,
		ServiceAccount: prm.Pod.ServiceAccount,
		Name:           "secretsync:" + prm.Pod.ServiceAccount + ":" + id[:10],
		UID:            "secretsync-" + id,
	}
}

// syncLiveness is the liveness of a SecretSync's workload: alive while it
// asks (the controller's polls), gone once it has not for revokeAfter.
// The controller never says that a SecretSync was deleted; its Secret is
// deleted with it, so nobody is left to use the credential.
type syncLiveness struct {
	revokeAfter time.Duration
	now         func() time.Time
}

func (l syncLiveness) State(_ pods.Name, mounted time.Time) pods.State {
	if l.now().Sub(mounted) >= l.revokeAfter {
		return pods.Gone
	}
	return pods.Alive
}
