package setup

import (
	"fmt"
	"net/url"

	"github.com/vaultazure/vault-azure-csi-provider/auth/allow"
)

// allowed is what the admin's flags allow SecretProviderClasses.
type allowed struct {
	addresses  allow.Addresses
	tlsDirs    allow.Directories
	nodeIDs    allow.NodeIdentities
	nodeVaults allow.Addresses // where the node's identities may be presented
}

func parseAllowed(o *Options) (*allowed, error) {
	a := &allowed{}
	var err error
	if a.addresses, err = allow.ParseAddresses(splitList(o.AllowedAddrs)); err != nil {
		return nil, fmt.Errorf("--allowed-vault-addresses: %w", err)
	}
	if o.VaultAddr != "" && len(a.addresses) > 0 && !a.addresses.Lists(o.VaultAddr) {
		return nil, fmt.Errorf("--vault-addr %q is not one of --allowed-vault-addresses", o.VaultAddr)
	}
	if a.tlsDirs, err = allow.ParseDirectories(splitList(o.AllowedTLSDirs)); err != nil {
		return nil, fmt.Errorf("--allowed-tls-dirs: %w", err)
	}
	rules := splitList(o.NodeIdentity)
	for _, ns := range o.NodeIdentityNamespaces() { // the older flag: every identity of the node
		rules = append(rules, ns+":*")
	}
	if a.nodeIDs, err = allow.ParseNodeIdentities(rules); err != nil {
		return nil, fmt.Errorf("--allow-node-identity: %w", err)
	}
	a.nodeVaults = a.addresses
	if len(a.nodeVaults) == 0 && o.VaultAddr != "" {
		u, err := url.Parse(o.VaultAddr)
		if err != nil {
			return nil, fmt.Errorf("--vault-addr %q is not a URL", o.VaultAddr)
		}
		a.nodeVaults = allow.Addresses{u.Scheme + "://" + u.Host}
	}
	return a, nil
}
