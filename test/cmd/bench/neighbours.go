package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// neighbourBoundMiB is the provider's memory bound under the attacks (the
// hostile-neighbour tests hold it to the same; the chart's limit is 256 MiB).
const neighbourBoundMiB = 128

// neighbours is what a victim's warm Mounts (10 objects) cost alone and
// while other namespaces' classes attack the same provider.
type neighbours struct {
	quiet, attacked []time.Duration
	victimErrors    int
	attackerMounts  int64
	attackerErrors  int64
	peakRSS         int64
	attacks         []string
}

// attackers are the classes the attacking namespace mounts in loops: a
// Vault that never answers (64 Mounts in flight), one that answers reads
// with an endless body, and a CA path of /dev/zero.
func attackers(w *world.World) ([]*driver.Volume, []string, func(), error) {
	hungURL, stopHung := world.HostileVault(false, world.Hang)
	endlessURL, stopEndless := world.HostileVault(true, world.EndlessBody)
	stop := func() { stopHung(); stopEndless() }
	var vols []*driver.Volume
	add := func(n int, params func(i int) map[string]string) error {
		for i := range n {
			pod := world.Pod{Namespace: "attacker", Name: fmt.Sprintf("evil-%d-%d", len(vols), i), UID: fmt.Sprintf("00000000-0000-4000-8000-%012d", len(vols)), ServiceAccount: "evil"}
			v, err := w.Volume(world.SPC("evil", params(i)), pod)
			if err != nil {
				return err
			}
			vols = append(vols, v)
		}
		return nil
	}
	k8s := func(addr string) func(i int) map[string]string {
		return func(i int) map[string]string {
			return map[string]string{"vaultAuthMethod": "kubernetes", "roleName": fmt.Sprint("evil-", i), "vaultAddress": addr,
				"objects": fmt.Sprintf("- {objectName: x, secretPath: kv/evil-%d, secretKey: k}\n", i)}
		}
	}
	err := add(64, k8s(hungURL))
	if err == nil {
		err = add(16, k8s(endlessURL))
	}
	if err == nil {
		err = add(8, func(int) map[string]string {
			return map[string]string{"vaultAuthMethod": "kubernetes", "roleName": "evil", "vaultCACertPath": "/dev/zero", "vaultAddress": "https://127.0.0.1:1",
				"objects": "- {objectName: x, secretPath: kv/x, secretKey: k}\n"}
		})
	}
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return vols, []string{"64 Mounts of a Vault that never answers", "16 of one that answers reads with an endless body", "8 with vaultCACertPath /dev/zero"}, stop, nil
}

// runNeighbours measures on a fresh provider with the default flags.
func runNeighbours(ctx context.Context, w *world.World, victim *driver.Volume, samples int) (*neighbours, error) {
	p, err := startProvider(w)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	n := &neighbours{}
	if n.quiet, err = sequential(ctx, p, victim, samples); err != nil {
		return nil, err
	}
	vols, attacks, stopVaults, err := attackers(w)
	if err != nil {
		return nil, err
	}
	defer stopVaults()
	n.attacks = attacks
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mounts, errs atomic.Int64
	for _, v := range vols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := driver.Dial(p.Socket)
			if err != nil {
				return
			}
			defer c.Close()
			req, err := v.Request(nil)
			if err != nil {
				return
			}
			for actx.Err() == nil {
				mctx, mcancel := context.WithTimeout(actx, 5*time.Second)
				_, _, err := mount(mctx, c, req)
				mcancel()
				mounts.Add(1)
				if err != nil {
					errs.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second) // the attack under way
	n.attacked, n.victimErrors = victimMounts(ctx, p, victim, samples)
	cancel()
	wg.Wait()
	n.attackerMounts, n.attackerErrors = mounts.Load(), errs.Load()
	m, err := world.MemoryOf(p.PID())
	if err != nil {
		return nil, err
	}
	n.peakRSS = m.Peak
	return n, nil
}

// victimMounts is sequential, counting errors instead of stopping at one.
func victimMounts(ctx context.Context, p *world.Provider, v *driver.Volume, count int) ([]time.Duration, int) {
	c, err := driver.Dial(p.Socket)
	if err != nil {
		return nil, count
	}
	defer c.Close()
	req, err := v.Request(nil)
	if err != nil {
		return nil, count
	}
	var out []time.Duration
	failed := 0
	for range count {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, d, err := mount(cctx, c, req)
		cancel()
		if err != nil {
			failed++
			continue
		}
		out = append(out, d)
	}
	return out, failed
}

// writeNeighbours adds the section and returns its missed targets.
func writeNeighbours(b *strings.Builder, n *neighbours) (missed []string) {
	fmt.Fprintf(b, "\n**Hostile neighbours** (default flags; the attacking namespace mounts in loops: %s):\n\n", strings.Join(n.attacks, ", "))
	b.WriteString("| | victim alone | victim under attack |\n|---|---|---|\n")
	fmt.Fprintf(b, "| victim's warm Mount of 10 objects, p50 / p99 ms | %s / %s | %s / %s |\n",
		ms(percentile(n.quiet, 50)), ms(percentile(n.quiet, 99)), ms(percentile(n.attacked, 50)), ms(percentile(n.attacked, 99)))
	mark := ""
	if n.victimErrors > 0 {
		mark = " ✗"
		missed = append(missed, fmt.Sprintf("hostile neighbours — victim errors: %d", n.victimErrors))
	}
	fmt.Fprintf(b, "| victim errors (target 0) | 0 | %d%s |\n", n.victimErrors, mark)
	fmt.Fprintf(b, "| attacker Mounts (all failed: %v) | | %d |\n", n.attackerErrors == n.attackerMounts, n.attackerMounts)
	mark = ""
	if n.peakRSS > neighbourBoundMiB<<20 {
		mark = " ✗"
		missed = append(missed, fmt.Sprintf("hostile neighbours — peak RSS %s over %d MiB", mib(n.peakRSS), neighbourBoundMiB))
	}
	fmt.Fprintf(b, "| provider peak RSS (VmHWM; target ≤ %d MiB) | | %s%s |\n", neighbourBoundMiB, mib(n.peakRSS), mark)
	return missed
}
