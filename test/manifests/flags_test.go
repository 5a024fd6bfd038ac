package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// providerBinary is $PROVIDER_BIN (set by the Makefile) or a fresh build.
func providerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROVIDER_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "vault-azure-csi-provider")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/vault-azure-csi-provider")
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, b)
	}
	return out
}

// TestChartArgsAreProviderFlags parses the rendered container args with the
// provider binary itself: a flag the binary does not know fails the test.
func TestChartArgsAreProviderFlags(t *testing.T) {
	bin := providerBinary(t)
	for name, values := range map[string]string{"defaults": "", "everything on": everythingOn} {
		t.Run(name, func(t *testing.T) {
			c := render(t, values).container(t)
			out, err := exec.Command(bin, append(append([]string{}, c.Args...), "--version")...).CombinedOutput()
			if err != nil {
				t.Fatalf("the provider rejects the chart's args %q: %v\n%s", c.Args, err, out)
			}
		})
	}
	out, err := exec.Command(bin, "--no-such-flag", "--version").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no-such-flag") {
		t.Errorf("an unknown flag was accepted: %v\n%s", err, out)
	}
}
