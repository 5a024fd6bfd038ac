package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// TestVersionsSurviveRestartWithKeyFile: two provider processes (a restart,
// an upgrade, or two nodes) with the same --version-key-file report the
// same version for the same content, so the driver's rotation rewrites
// nothing; a change of content still changes the version on both. Without
// the flag the versions differ per process and the startup log says so.
func TestVersionsSurviveRestartWithKeyFile(t *testing.T) {
	writeRotating(t, "stable-1")
	dir, err := theWorld.TempDir("version-key")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key")
	// The chart's Secret holds 64 random letters and digits.
	if err := os.WriteFile(keyFile, []byte("Q3kV9pZr2LxT7bN4mW8cY1dF6gH0jK5sA2eR7tU9iO3pL6zX8vB1nM4qW7eR0tYu\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	spc := world.SPC("versions", map[string]string{"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "objects": rotationObjects})
	versionsOf := func(p *world.Provider) map[string]string {
		t.Helper()
		_, v, err := mount(t, p, spc, world.WebPod, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	start := func(args ...string) *world.Provider {
		t.Helper()
		// No secret cache: every mount reads the current content.
		p, err := theWorld.StartProvider(append([]string{"--secret-cache-ttl=0"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop() })
		return p
	}
	a := start("--version-key-file", keyFile)
	b := start("--version-key-file", keyFile)
	first, second := versionsOf(a), versionsOf(b)
	for id, v := range first {
		if second[id] != v {
			t.Errorf("%s: version %s on one provider, %s on the other with the same key file", id, v, second[id])
		}
	}
	writeRotating(t, "stable-2")
	changedA, changedB := versionsOf(a), versionsOf(b)
	if changedA["password"] == first["password"] || changedA["password"] != changedB["password"] {
		t.Errorf("after a change: %s and %s (before %s); want a new version, the same on both", changedA["password"], changedB["password"], first["password"])
	}
	if changedA["api-key"] != first["api-key"] {
		t.Errorf("api-key version changed though its content did not")
	}
	if !strings.Contains(a.Logs(), "keyed by --version-key-file") {
		t.Errorf("the startup log does not say where the version key comes from:\n%s", a.Logs())
	}

	// Without a key file: a restart changes every version, and the provider says so.
	c, d := start(), start()
	if vc, vd := versionsOf(c), versionsOf(d); vc["password"] == vd["password"] {
		t.Errorf("two providers without a key file gave the same version %s", vc["password"])
	}
	if !strings.Contains(c.Logs(), "versions are keyed by a random key of this process and change when the provider restarts") {
		t.Errorf("without --version-key-file the startup log does not warn that versions change on restart:\n%s", c.Logs())
	}
	if strings.Contains(a.Logs(), "Q3kV9pZr2Lx") {
		t.Error("the provider logged its version key")
	}
}

// TestVersionKeyFileRefusedWhenUnusable: a key that is too short, or a
// missing file, stops the provider at startup with a reason.
func TestVersionKeyFileRefusedWhenUnusable(t *testing.T) {
	dir, err := theWorld.TempDir("version-key-bad")
	if err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("short-key"), 0o400); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{short: "fewer than 32", filepath.Join(dir, "absent"): "reading --version-key-file"} {
		p, err := theWorld.StartProvider("--version-key-file", file)
		if err == nil {
			p.Stop()
			t.Fatalf("the provider started with --version-key-file %s", file)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("startup error for %s lacks %q: %v", file, want, err)
		}
	}
}
