package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// TestSecondSIGTERMExitsAtOnce: the first SIGTERM starts the graceful
// stop, which waits for a Mount stuck on a slow Vault; a second SIGTERM
// ends the process at once.
func TestSecondSIGTERMExitsAtOnce(t *testing.T) {
	p, err := theWorld.StartProvider("--shutdown-grace=60s", "--secret-cache-ttl=0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	mountDB(t, p, nil) // logged in: the stuck mount waits on its read
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: dbPath, Latency: 40 * time.Second})
	defer theWorld.Vault.ClearFaults()
	v, err := theWorld.Volume(world.SPC("stuck", withDefaults(nil)), world.WebPod)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mountWithin(t, p, v, 50*time.Second) }()
	deadline := time.Now().Add(5 * time.Second)
	for requests(dbPath) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	before := requests(dbPath)
	for requests(dbPath) == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, exited := p.Exited(time.Second); exited {
		t.Fatal("the first SIGTERM did not wait for the in-flight mount")
	}
	sent := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, exited := p.Exited(3 * time.Second); !exited {
		t.Fatal("the provider still runs 3s after a second SIGTERM")
	}
	t.Logf("exited %s after the second SIGTERM", time.Since(sent).Round(time.Millisecond))
	if !strings.Contains(p.Logs(), "second signal received") {
		t.Errorf("the provider did not say why it stopped at once:\n%s", p.Logs())
	}
}
