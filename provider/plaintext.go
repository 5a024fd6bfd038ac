package provider

import (
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// maxWarnedAddresses bounds the memory of plain-http addresses warned about.
const maxWarnedAddresses = 1024

// plaintextGuard handles Vault addresses with plain http://, over which the
// pods' Azure and service-account tokens, their Vault tokens and their
// secrets would travel in cleartext: it refuses them (--require-vault-tls)
// or warns once per address.
type plaintextGuard struct {
	require bool
	mu      sync.Mutex
	warned  *simplelru.LRU[string, struct{}]
}

func newPlaintextGuard(require bool) *plaintextGuard {
	warned, _ := simplelru.NewLRU[string, struct{}](maxWarnedAddresses, nil)
	return &plaintextGuard{require: require, warned: warned}
}

// check refuses or warns about addr if it is plain http.
func (g *plaintextGuard) check(addr string) error {
	u, err := url.Parse(addr)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return nil
	}
	if g.require {
		return &params.Error{Parameter: "vaultAddress", Problem: fmt.Sprintf(
			"%q uses plain http://, which this provider refuses (--require-vault-tls): the pod's Azure or service-account token, its Vault token and its secrets would travel in cleartext; use https://", auth.Short(retry.Redact(addr)))}
	}
	g.mu.Lock()
	_, seen := g.warned.Get(addr)
	if !seen {
		g.warned.Add(addr, struct{}{})
	}
	g.mu.Unlock()
	if !seen {
		klog.InfoS("WARNING: Vault address uses plain http://: Azure and service-account tokens, Vault tokens and secrets travel in cleartext; use https:// (--require-vault-tls refuses such addresses)", "vaultAddress", retry.Redact(addr))
	}
	return nil
}
