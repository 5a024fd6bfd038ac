package world

import (
	"crypto/rsa"

	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
)

// Options adapt the world to a real Kubernetes cluster.
type Options struct {
	// ClusterSigningKey is the service-account signing key of a real
	// kube-apiserver whose --service-account-issuer is ClusterIssuerURL. The
	// Azure emulator's federation and Vault's jwt auth then trust that
	// cluster's tokens. Nil: the world's own issuer with a fresh key.
	ClusterSigningKey *rsa.PrivateKey
	// RealKubernetesAuth mounts the real vault-plugin-auth-kubernetes at
	// auth/kubernetes instead of the jwt stand-in, unconfigured: its config
	// (apiserver address, CA, reviewer token) and roles are the caller's.
	RealKubernetesAuth bool
}

func (o Options) clusterIssuer() (*cluster.Issuer, error) {
	if o.ClusterSigningKey != nil {
		return cluster.NewIssuerFromKey(ClusterIssuerURL, o.ClusterSigningKey)
	}
	return cluster.NewIssuer(ClusterIssuerURL)
}
