// Package methods is the table of the auth methods this provider offers:
// the one place that lists them. A new method is a package implementing
// auth.Method plus one line in New.
package methods

import (
	"fmt"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/serviceaccount"
)

// Config holds the provider-wide settings of the methods that have any (from flags).
type Config struct {
	Azure azure.Config
	// JWTPerServiceAccount shares a jwt login's Vault token among the pods
	// of a service account (the admin says its jwt roles bind no per-pod
	// claim); otherwise each pod logs in for itself.
	JWTPerServiceAccount bool
}

// New builds every auth method, by the name the vaultAuthMethod parameter uses.
func New(cfg Config) (auth.Methods, error) {
	az, err := azure.New(cfg.Azure)
	if err != nil {
		return nil, fmt.Errorf("configuring Azure identity: %w", err)
	}
	return auth.NewMethods(
		auth.Registration{Name: auth.MethodAzure, Method: az},
		auth.Registration{Name: auth.MethodKubernetes, Method: serviceaccount.Method{}},
		auth.Registration{Name: auth.MethodJWT, Method: serviceaccount.Method{PerPod: !cfg.JWTPerServiceAccount}},
	)
}
