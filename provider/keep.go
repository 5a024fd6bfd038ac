package provider

import (
	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// holder is who a Mount's dynamic secrets are kept for: the pod, the
// identity it logged in as, and the token (owner) that obtains them.
type holder struct {
	pod      dynamic.PodRef
	identity string
	owner    dynamic.Owner
}

// holderOf describes the Mount of pod prm with areq's login and lease's token,
// over the base client of its Vault address and TLS settings.
func holderOf(prm *params.Params, areq *auth.Request, lease *auth.Lease, base dynamic.Owner) holder {
	base.Address, base.Connection, base.Token, base.Namespace = areq.VaultAddress, areq.Connection, lease.Token, prm.VaultNamespace
	base.TokenExpires, base.TokenTTL, base.TokenRenewable = lease.Expires, lease.TTL, lease.Renewable
	pod := dynamic.PodRef{UID: prm.Pod.UID, Namespace: prm.Pod.Namespace, Name: prm.Pod.Name}
	return holder{pod: pod, identity: auth.PodIdentityKey(areq), owner: base}
}

// dynamicKeys returns, per request, the key its dynamic secret is kept
// under, or a zero key (no pod UID) when it is not kept: no store, no pod
// UID, or an object of the request says reuse: false.
func (p *Provider) dynamicKeys(h holder, reqKeys []string, objs []params.Object, objReq []int) []dynamic.Key {
	keys := make([]dynamic.Key, len(reqKeys))
	if p.dynamic == nil || h.pod.UID == "" {
		return keys
	}
	reuse := make([]bool, len(reqKeys))
	for i := range reuse {
		reuse[i] = true
	}
	for i, obj := range objs {
		reuse[objReq[i]] = reuse[objReq[i]] && obj.Reuse
	}
	for i, k := range reqKeys {
		if reuse[i] {
			keys[i] = dynamic.Key{Pod: h.pod, Identity: h.identity, Request: k}
		}
	}
	return keys
}

// kept reports whether the pod holds a kept dynamic secret for request i.
func (f *fetch) kept(i int) bool {
	return f.keys[i].Pod.UID != "" && f.p.dynamic.Has(f.keys[i])
}
