package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/node/harness"
)

// The chart's provider reaches a Vault whose certificate only a private CA
// signs: the CA comes from a ConfigMap mounted with extraVolumes and
// extraVolumeMounts and is named once with vault.tls.caCert. A class that
// leaves vaultAddress unset mounts through it; a class that names the same
// server by another address (localhost, which its certificate covers too)
// is not the provider's own Vault and gets none of its TLS defaults: the
// provider then refuses the certificate, so the mounted CA is what makes
// the default address trusted.
func TestPrivateCAVaultThroughExtraVolumes(t *testing.T) {
	s := newScenario(t, "t-privca", "web")
	manifest, err := os.ReadFile(node.ManifestPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--vault-addr=" + node.World.Info.VaultTLSAddr, "--vault-tls-ca-cert=" + harness.VaultCAMountPath + "/ca.crt",
		"mountPath: " + harness.VaultCAMountPath, "name: " + harness.VaultCAConfigMap} {
		if !strings.Contains(string(manifest), want) {
			t.Errorf("the installed chart lacks %q", want)
		}
	}
	if !strings.HasPrefix(node.World.Info.VaultTLSAddr, "https://") {
		t.Fatalf("the node's Vault is %q, not HTTPS", node.World.Info.VaultTLSAddr)
	}
	token := randomValue("tok")
	s.putSecret("api", map[string]any{"token": token})
	objs := []object{{Name: "api-token", Path: "secret/data/t-privca/api", Key: "token"}}
	s.spc("default-vault", s.workloadParams(), objs)
	named := s.workloadParams()
	named["vaultAddress"] = strings.Replace(node.World.Info.VaultTLSAddr, "https://127.0.0.1:", "https://localhost:", 1)
	s.spc("named-vault", named, objs)

	s.startPod(appPod{name: "trusted", spc: "default-vault", files: []string{"api-token"}})
	s.startPod(appPod{name: "untrusted", spc: "named-vault", files: []string{"api-token"}})
	pod := s.running("trusted")
	l := s.waitOutput(pod, "/mnt/secrets/api-token", 30*time.Second, func(l line) bool { return l.File == "/mnt/secrets/api-token" })
	if l.Error != "" || l.Content != token {
		t.Errorf("through the private-CA Vault: %q %q, want the token", l.Content, l.Error)
	}
	ev, err := node.WaitEvent(s.ctx, s.ns, "untrusted", "certificate", 90*time.Second)
	if err != nil {
		t.Fatalf("the class naming the address itself: %v\nprovider log:\n%s", err, s.providerLog())
	}
	if !strings.Contains(ev, "FailedMount") || !strings.Contains(ev, "unknown authority") {
		t.Errorf("event %q, want a FailedMount for a certificate signed by an unknown authority", ev)
	}
}
