package provider

import (
	"context"
	"encoding/json"
	"time"

	vault "github.com/hashicorp/vault/api"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// statePeriod is how often changed dynamic secrets are written to the
// state file: a restart loses at most this much (a renewal, which the next
// sweep repeats, or a secret issued that long before, which its pod's next
// Mount replaces).
const statePeriod = time.Second

// restoreState keeps again the dynamic secrets the state file holds, before
// the provider serves: a restart (an upgrade, a crash) neither changes a
// running pod's credential nor stops its renewal.
func (p *Provider) restoreState() {
	if p.cfg.StateFile == nil || p.dynamic == nil {
		return
	}
	data, err := p.cfg.StateFile.Load()
	if err != nil {
		klog.ErrorS(err, "cannot read the kept dynamic secrets: running pods' credentials are no longer renewed and expire at their TTL; their next Mount gets new ones", "file", p.cfg.StateFile.Path())
		return
	}
	if data == nil {
		return
	}
	n, err := p.dynamic.Restore(data, p.baseClient)
	if err != nil {
		klog.ErrorS(err, "cannot read the kept dynamic secrets", "file", p.cfg.StateFile.Path())
		return
	}
	klog.InfoS("restored the dynamic secrets kept for pods", "secrets", n, "file", p.cfg.StateFile.Path())
}

// baseClient is the pooled client of an address and the TLS settings a
// Mount used (AuthRequest's Connection).
func (p *Provider) baseClient(address, connection string) (*vault.Client, error) {
	var tls params.TLS
	if err := json.Unmarshal([]byte(connection), &tls); err != nil {
		return nil, err
	}
	return p.clients.Get(address, tls)
}

// saveState writes the dynamic secrets if they changed.
func (p *Provider) saveState() {
	if p.cfg.StateFile == nil || p.dynamic == nil {
		return
	}
	data, changed, err := p.dynamic.Snapshot()
	if err == nil && changed {
		if err = p.cfg.StateFile.Save(data); err != nil {
			p.dynamic.MarkChanged() // try again at the next period
		}
	}
	if err != nil {
		klog.ErrorS(err, "cannot write the kept dynamic secrets; a restart now would stop their renewal", "file", p.cfg.StateFile.Path())
	}
}

// runState writes changes every statePeriod until ctx ends.
func (p *Provider) runState(ctx context.Context) {
	wait.UntilWithContext(ctx, func(context.Context) { p.saveState() }, statePeriod)
}

// Flush writes what changed since the last write (at shutdown).
func (p *Provider) Flush() { p.saveState() }
