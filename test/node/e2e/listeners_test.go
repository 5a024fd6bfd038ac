package e2e

import (
	"testing"
)

// Every TCP port the node opens — apiserver, etcd, kubelet, containerd's
// stream server, the driver's metrics, the provider's health and metrics,
// the world's Vault and Azure endpoints — is on the loopback address.
func TestEverythingListensOnLoopback(t *testing.T) {
	needNode(t)
	ls, err := node.Listeners()
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	for _, l := range ls {
		by[l.Command]++
		if !l.IP.IsLoopback() {
			t.Errorf("%s (pid %d) listens on %s, not on loopback", l.Command, l.PID, l.Addr)
		}
	}
	for _, cmd := range []string{"etcd", "kube-apiserver", "kubelet", "secrets-store-csi-driver", "vault-azure-csi-provider", "world"} {
		if by[cmd] == 0 {
			t.Errorf("no listening socket of %s found (found %v): the check would miss it", cmd, by)
		}
	}
	t.Logf("listening sockets by command: %v", by)
}
