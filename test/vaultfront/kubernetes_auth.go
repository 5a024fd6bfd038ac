package vaultfront

import (
	kubeauth "github.com/hashicorp/vault-plugin-auth-kubernetes"
	"github.com/hashicorp/vault/sdk/logical"
)

// KubernetesPluginType is the EnableAuth type that mounts the real
// vault-plugin-auth-kubernetes, which checks service-account tokens with the
// TokenReview API of a real kube-apiserver. The type "kubernetes" keeps
// mounting the jwt plugin as an offline stand-in, for worlds without an
// apiserver. Configure it as in Vault (auth/<path>/config: kubernetes_host,
// kubernetes_ca_cert, token_reviewer_jwt, disable_local_ca_jwt=true).
const KubernetesPluginType = "kubernetes-plugin"

// kubernetesFactory builds the real kubernetes auth backend.
var kubernetesFactory logical.Factory = kubeauth.Factory
