package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
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

// TestNoSecretOrTokenInLogs mounts in every auth mode, and fails mounts in
// ways that put tokens and secrets close to error paths, on a provider at -v=10
// in each log format; startLogged then searches the logs for every secret
// value and token involved. reliability_test.go, isolation_test.go and
// identity_faults_test.go run every fault the same way.
func TestNoSecretOrTokenInLogs(t *testing.T) {
	for _, format := range logFormats {
		t.Run(format, func(t *testing.T) {
			p := startLogged(t, format, "--allow-node-identity-namespaces=ops")
			for _, mode := range authModes() {
				params := map[string]string{"objects": shopObjects}
				for k, v := range mode.params {
					params[k] = v
				}
				if _, err := mountAs(t, p, world.SPC("leak", params), mode.pod, 30*time.Second); err != nil {
					t.Fatalf("%s: %v", mode.name, err)
				}
				bad := map[string]string{"roleName": "billing"}
				if _, err := mountAs(t, p, world.SPC("leak-bad", withDefaults(bad)), mode.pod, 30*time.Second); err == nil {
					t.Errorf("%s: the billing role worked for the web pod", mode.name)
				}
			}
			// A class that carries a secret in secretArgs and is refused.
			argSecret := "arg-secret-do-not-log-4f1c9"
			sensitive.add(argSecret)
			badArgs := withDefaults(map[string]string{"objects": "- {objectName: x, secretPath: pki/issue/web, secretArgs: {password: " + argSecret + "}, method: DELETE}\n"})
			if _, err := mountAs(t, p, world.SPC("leak-args", badArgs), world.WebPod, 30*time.Second); err == nil {
				t.Error("method DELETE accepted")
			}
		})
	}
}

// logFormats are the provider's log formats: every leak check runs in each.
var logFormats = []string{"text", "json"}

// startLogged starts a provider at the highest verbosity in format, without
// the secret cache (so every mount reads Vault), and with flags. When the
// test ends it stops the provider, which must exit cleanly (it never
// crashed), and searches everything it logged for secrets and tokens.
func startLogged(t *testing.T, format string, flags ...string) *world.Provider {
	t.Helper()
	args := append([]string{"-v=10", "--log-format=" + format, "--secret-cache-ttl=0"}, flags...)
	p, err := theWorld.StartProvider(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("provider did not exit cleanly: %v", err)
		}
		assertNoLeaks(t, format, p.Logs())
	})
	return p
}

// mountAs mounts spc for pod through p within timeout, remembering the
// volume's service-account tokens and, on success, the mounted files as
// values that must never be logged.
func mountAs(t *testing.T, p *world.Provider, spc *driver.SecretProviderClass, pod world.Pod, timeout time.Duration) (*driver.Volume, error) {
	t.Helper()
	v, err := theWorld.Volume(spc, pod)
	if err != nil {
		t.Fatal(err)
	}
	return v, mountWithin(t, p, v, timeout)
}

// mountWithin mounts v through p within timeout (the driver's deadline).
func mountWithin(t *testing.T, p *world.Provider, v *driver.Volume, timeout time.Duration) error {
	t.Helper()
	for _, tok := range v.Tokens {
		sensitive.addJWT(tok)
	}
	c, err := driver.Dial(p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := c.Mount(ctx, v, nil); err != nil {
		return err
	}
	sensitive.addFiles(t, v.TargetPath)
	return nil
}

// sensitive collects values that must never appear in any provider log.
var sensitive = &secretSet{values: map[string]bool{}}

type secretSet struct {
	mu     sync.Mutex
	values map[string]bool
}

func (s *secretSet) add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		// Shorter values could occur in logs by chance.
		if len(v) >= 8 {
			s.values[v] = true
		}
	}
}

// addJWT adds a token and, if it is a JWT, its payload and signature.
func (s *secretSet) addJWT(tok string) {
	s.add(tok, strings.TrimPrefix(tok, "hvs."))
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		s.add(parts[1], parts[2])
	}
}

// addFiles adds the content of every file under dir, and each long line of
// it (JSON logs would escape the line breaks of a PEM key).
func (s *secretSet) addFiles(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s.add(string(b))
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				s.add(line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// forbidden is every value no log may contain: the world's secrets, every
// token Vault issued and every JWT presented to it (Azure access tokens,
// service-account tokens), and what the tests remembered.
func (s *secretSet) forbidden() []string {
	s.add(world.DBPassword, world.DBUsername, world.LegacyToken, world.APIKey, world.BillingAPIKey,
		world.HashiCorpDBPwd, world.VaultSPSecret)
	for _, tok := range theWorld.Vault.IssuedTokens() {
		s.addJWT(tok)
	}
	for _, tok := range theWorld.Vault.LoginJWTs() {
		s.addJWT(tok)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.values))
	for v := range s.values {
		out = append(out, v)
	}
	return out
}

func assertNoLeaks(t *testing.T, format, logs string) {
	t.Helper()
	if len(logs) < 1000 {
		t.Fatalf("suspiciously few logs at -v=10 (%d bytes): the check would prove nothing", len(logs))
	}
	if format == "json" {
		lines, parsed := 0, 0
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			lines++
			if json.Valid([]byte(line)) {
				parsed++
			}
		}
		if parsed*10 < lines*9 {
			t.Errorf("--log-format json: only %d of %d log lines are JSON", parsed, lines)
		}
	}
	forbidden := sensitive.forbidden()
	for _, v := range forbidden {
		if i := strings.Index(logs, v); i >= 0 {
			line := strings.Count(logs[:i], "\n") + 1
			t.Errorf("%s log line %d contains a secret or token (%d chars starting %.4q)", format, line, len(v), v)
		}
	}
	t.Logf("%s logs: %d bytes searched for %d secret and token values", format, len(logs), len(forbidden))
}

// TestGracefulShutdownFinishesInFlightMounts sends SIGTERM while mounts wait
// on a slow Vault: every mount in flight at the signal completes.
func TestGracefulShutdownFinishesInFlightMounts(t *testing.T) {
	p, err := theWorld.StartProvider()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mount(t, p, world.SPC("shutdown", withDefaults(nil)), world.WebPod, nil); err != nil { // warm the token cache
		t.Fatal(err)
	}
	const n = 5
	// One secret per mount: identical reads in flight would share one Vault call.
	root, err := theWorld.Root()
	if err != nil {
		t.Fatal(err)
	}
	spcs := make([]*driver.SecretProviderClass, n)
	for i := range spcs {
		path := fmt.Sprintf("secret/shop/shutdown-%d", i)
		if _, err := root.Logical().Write(strings.Replace(path, "secret/", "secret/data/", 1), map[string]any{"data": map[string]any{"password": "x"}}); err != nil {
			t.Fatal(err)
		}
		spcs[i] = world.SPC("shutdown", withDefaults(map[string]string{"objects": "- {objectName: p, secretPath: " + path + ", secretKey: password}\n"}))
	}
	theWorld.Vault.ResetStats()
	theWorld.Vault.InjectFault(vaultfront.Fault{PathPrefix: "secret/", Latency: 700 * time.Millisecond})
	defer theWorld.Vault.ClearFaults()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		v, err := theWorld.Volume(spcs[i], world.WebPod)
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
