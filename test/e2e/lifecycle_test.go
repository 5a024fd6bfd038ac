package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/vaultfront"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

func TestSocketIsOwnerOnly(t *testing.T) {
	fi, err := os.Stat(prov.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
}

// TestNoSecretOrTokenInLogs runs successful and failing mounts on a provider
// at the highest verbosity and searches its logs for every secret value and
// token involved.
func TestNoSecretOrTokenInLogs(t *testing.T) {
	p, err := theWorld.StartProvider("--allow-node-identity-namespaces=ops", "-v=10")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	var forbidden []string
	for _, mode := range authModes() {
		params := map[string]string{"objects": shopObjects}
		for k, v := range mode.params {
			params[k] = v
		}
		v, _, err := mount(t, p, world.SPC("leak", params), mode.pod, nil)
		if err != nil {
			t.Fatalf("%s: %v", mode.name, err)
		}
		for _, tok := range v.Tokens {
			forbidden = append(forbidden, tok, tokenSignature(tok))
		}
		forbidden = append(forbidden, readFile(t, v, "certs/tls.key"))
		_, _, _ = mount(t, p, world.SPC("leak-bad", withDefaults(map[string]string{"roleName": "billing"})), mode.pod, nil)
	}
	forbidden = append(forbidden, world.DBPassword, world.DBUsername, world.LegacyToken, world.APIKey, world.VaultSPSecret)
	logs := p.Logs()
	if len(logs) < 1000 {
		t.Fatalf("suspiciously few logs at -v=10 (%d bytes): the test would prove nothing", len(logs))
	}
	for _, s := range forbidden {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("provider logs contain a secret or token (%d chars starting %.6q)", len(s), s)
		}
	}
}

func tokenSignature(jwt string) string {
	parts := strings.Split(jwt, ".")
	return parts[len(parts)-1]
}

// TestGracefulShutdownFinishesInFlightMounts sends SIGTERM while mounts wait
// on a slow Vault: every mount in flight at the signal completes.
func TestGracefulShutdownFinishesInFlightMounts(t *testing.T) {
	p, err := theWorld.StartProvider()
	if err != nil {
		t.Fatal(err)
	}
	spc := world.SPC("shutdown", withDefaults(nil))
	if _, _, err := mount(t, p, spc, world.WebPod, nil); err != nil { // warm the token cache
		t.Fatal(err)
	}
	theWorld.Vault.ResetStats()
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: "secret/", Latency: 700 * time.Millisecond})
	defer theWorld.Vault.ClearFaults()
	const n = 5
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		v, err := theWorld.Volume(spc, world.WebPod)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, err := mountVolume(t, p, v, nil); errs <- err }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for theWorld.Vault.Stats().Reads < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := theWorld.Vault.Stats().Reads; got < n {
		t.Fatalf("only %d reads in flight", got)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("provider exit after SIGTERM: %v", err)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Errorf("in-flight mount failed during graceful shutdown: %v", err)
		}
	}
}
