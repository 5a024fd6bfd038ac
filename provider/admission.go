package provider

import (
	"fmt"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// admit refuses what the cluster admin does not allow a class: a Vault
// address outside --allowed-vault-addresses, a TLS file outside
// --allowed-tls-dirs (for the class's namespace).
func (p *Provider) admit(addr string, prm *params.Params) error {
	if !p.cfg.AllowedAddresses.Allows(addr) {
		return &params.Error{Parameter: "vaultAddress", Problem: fmt.Sprintf(
			"%q is not one of the Vault addresses this provider allows (--allowed-vault-addresses: %s): use one of them, or ask the cluster admin",
			auth.Short(retry.Redact(addr)), strings.Join(p.cfg.AllowedAddresses, ", "))}
	}
	for _, f := range []struct{ name, path string }{
		{"vaultCACertPath", prm.TLS.CACertPath}, {"vaultCADirectory", prm.TLS.CADirectory},
		{"vaultTLSClientCertPath", prm.TLS.ClientCertPath}, {"vaultTLSClientKeyPath", prm.TLS.ClientKeyPath},
	} {
		if f.path != "" && !p.cfg.AllowedTLSDirs.Allows(f.path, prm.Pod.Namespace) {
			return &params.Error{Parameter: f.name, Problem: fmt.Sprintf(
				"%q is not in a directory this provider allows namespace %q (--allowed-tls-dirs: %s)",
				auth.Short(f.path), prm.Pod.Namespace, strings.Join(p.cfg.AllowedTLSDirs, ", "))}
		}
	}
	return nil
}
