package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// cliResult is one run of `vault-azure-csi-provider mount`.
type cliResult struct {
	code   int
	stdout string
	stderr string
}

// runCLI runs the provider binary's mount subcommand against the world, with
// the world's endpoint flags as world.StartProvider passes them.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, nil, args...)
}

// runCLIEnv is runCLI with more environment variables.
func runCLIEnv(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	bin, err := world.ProviderBinary()
	if err != nil {
		t.Fatal(err)
	}
	w := theWorld
	full := append([]string{"mount",
		"--vault-addr", w.Vault.Addr(),
		"--azure-imds-endpoint", w.Azure.IMDSURL(),
		"--azure-authority-host", w.Azure.AuthorityURL(),
		"--azure-nmi-endpoint", w.Azure.NMIURL(),
		"--azure-tenant-id", world.TenantID,
		"--timeout", "60s",
	}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = append(append(worldEnv(), "SSL_CERT_FILE="+w.CAFile, "HTTPS_PROXY="+w.Proxy.URL(), "HTTP_PROXY="+w.Proxy.URL(), "NO_PROXY="), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running mount: %v", err)
	}
	return res
}

// worldEnv is the environment without proxy, Vault or Azure settings.
func worldEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		up := strings.ToUpper(strings.SplitN(kv, "=", 2)[0])
		if strings.HasSuffix(up, "_PROXY") || strings.HasPrefix(up, "VAULT_") || strings.HasPrefix(up, "AZURE_") || up == "SSL_CERT_FILE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tokenFile writes a service-account token of pod for audience.
func tokenFile(t *testing.T, pod world.Pod, audience string) (path, token string) {
	t.Helper()
	tok, err := theWorld.Cluster.ServiceAccountToken(pod.Namespace, pod.ServiceAccount, audience, pod.Name, pod.UID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "token.jwt")
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, tok
}

// exampleForWorld copies an example file with vaultAddress pointing at the
// world's Vault.
func exampleForWorld(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(string(raw), "https://vault.example.internal:8200", theWorld.Vault.Addr())
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// spcFile writes a SecretProviderClass for the workload identity of WebPod
// with the given parameter overrides.
func spcFile(t *testing.T, extra map[string]string) string {
	t.Helper()
	p := withDefaults(extra)
	var b strings.Builder
	b.WriteString("apiVersion: secrets-store.csi.x-k8s.io/v1\nkind: SecretProviderClass\nmetadata:\n  name: cli\n  namespace: shop\nspec:\n  provider: vault-azure\n  parameters:\n")
	for k, v := range p {
		b.WriteString("    " + k + ": |-\n")
		for _, line := range strings.Split(strings.TrimRight(v, "\n"), "\n") {
			b.WriteString("      " + line + "\n")
		}
	}
	path := filepath.Join(t.TempDir(), "spc.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLIMountsTheExample(t *testing.T) {
	tok, raw := tokenFile(t, world.WebPod, world.AudienceAzure)
	out := filepath.Join(t.TempDir(), "mount")
	logins := theWorld.Vault.Stats().Logins
	res := runCLI(t, "--spc", exampleForWorld(t, "workload-identity.yaml"),
		"--pod-namespace", "shop", "--service-account", "web", "--token-file", tok, "--out", out)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if n := theWorld.Vault.Stats().Logins - logins; n != 1 {
		t.Errorf("%d logins, want 1: the mount must reuse the login step's token (same cache key as the provider)", n)
	}
	t.Logf("output:\n%s", res.stdout)
	for _, want := range []string{
		"✓ SecretProviderClass read", "✓ parameters valid", "✓ service-account token present and not expired",
		"sub=system:serviceaccount:shop:web", "✓ Azure identity endpoint reachable", "✓ Azure token obtained",
		"oid=" + world.AppIdentity.ObjectID, "aud=" + world.AzureResource, "✓ Vault reachable", "✓ login accepted",
		`"shop-web"`, "✓ object db-password readable", "✓ object tls/tls.key readable", "✓ files written: 6 files", "mount succeeded",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout+res.stderr, raw) || strings.Contains(res.stdout+res.stderr, world.DBPassword) {
		t.Error("the output contains the service-account token or a secret value")
	}
	got, err := os.ReadFile(filepath.Join(out, "db-password"))
	if err != nil || string(got) != world.DBPassword {
		t.Errorf("db-password = %q, %v; want the seeded password", got, err)
	}
	crt, _ := os.ReadFile(filepath.Join(out, "tls", "tls.crt"))
	key, _ := os.ReadFile(filepath.Join(out, "tls", "tls.key"))
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		t.Errorf("certificate and key are not one pair: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(out, "tls", "tls.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("tls.key mode: %v %v, want 0600", fi, err)
	}
}

func TestCLIExplainsMisconfigurations(t *testing.T) {
	webToken, _ := tokenFile(t, world.WebPod, world.AudienceAzure)
	billingToken, _ := tokenFile(t, world.BillingPod, world.AudienceAzure)
	tests := []struct {
		name   string
		params map[string]string
		token  string
		failed string // the ✗ step
		want   []string
	}{
		{"clientID of an identity without a federated credential for this service account",
			map[string]string{"clientID": world.OtherIdentity.ClientID}, webToken, "✗ Azure token obtained",
			[]string{"AADSTS700213", "no federated credential", world.ClusterIssuerURL, "system:serviceaccount:shop:web",
				"az identity federated-credential create", "--subject system:serviceaccount:shop:web"}},
		{"role not bound to the identity's object id",
			map[string]string{"roleName": "billing"}, webToken, "✗ login accepted",
			[]string{"does not list the identity's object id " + world.AppIdentity.ObjectID,
				"vault write auth/azure/role/billing bound_service_principal_ids=" + world.AppIdentity.ObjectID}},
		{"policy denies the path",
			map[string]string{"objects": "- objectName: billing-key\n  secretPath: secret/billing/api\n  secretKey: key\n"}, webToken,
			"✗ object billing-key readable",
			[]string{"HTTP 403", `grant ["deny"] on secret/data/billing/api`, `"shop-web"`,
				`path "secret/data/billing/api" { capabilities = ["read"] }`}},
		{"azureResource without the trailing slash",
			map[string]string{"azureResource": "https://management.azure.com"}, webToken, "✗ login accepted",
			[]string{"✓ Azure token obtained", "aud=https://management.azure.com ", "differ only by the trailing slash",
				`set azureResource to "https://management.azure.com/" (exactly the resource of auth/azure/config)`}},
		{"policy denies a path written with /v1/",
			map[string]string{"objects": "- objectName: billing-key\n  secretPath: /v1/secret/data/billing/api\n  secretKey: key\n"}, webToken,
			"✗ object billing-key readable",
			[]string{"HTTP 403", `grant ["deny"] on secret/data/billing/api`, `path "secret/data/billing/api" { capabilities = ["read"] }`}},
		{"token of another service account",
			nil, billingToken, "✗ service-account token present and not expired",
			[]string{`is for "system:serviceaccount:billing:billing"`, `the pod runs as "system:serviceaccount:shop:web"`,
				"kubectl create token web -n shop --audience api://AzureADTokenExchange"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(t, "--spc", spcFile(t, tc.params), "--service-account", "web", "--token-file", tc.token)
			if res.code != 1 {
				t.Fatalf("exit code %d, want 1\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
			if !strings.Contains("\n"+res.stdout, "\n"+tc.failed) {
				t.Errorf("output lacks the failed step %q:\n%s", tc.failed, res.stdout)
			}
			if n := strings.Count("\n"+res.stdout, "\n✗ "); n != 1 {
				t.Errorf("%d failed steps, want 1:\n%s", n, res.stdout)
			}
			for _, want := range tc.want {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, res.stdout)
				}
			}
			if !strings.Contains(res.stdout, "mount failed: fix the first ✗") {
				t.Errorf("output lacks the summary:\n%s", res.stdout)
			}
			if strings.TrimSpace(res.stderr) != "" {
				t.Errorf("without -v the report is all the output, but stderr has:\n%s", res.stderr)
			}
		})
	}
}

func TestCLIUsage(t *testing.T) {
	res := runCLI(t, "--pod-namespace", "shop")
	if res.code != 2 || !strings.Contains(res.stderr, "--spc is required") {
		t.Errorf("without --spc: exit %d, stderr:\n%s", res.code, res.stderr)
	}
}

func TestCLIMountsWithJWTAuth(t *testing.T) {
	tok, _ := tokenFile(t, world.WebPod, world.AudienceVault)
	out := filepath.Join(t.TempDir(), "mount")
	res := runCLI(t, "--spc", exampleForWorld(t, "jwt.yaml"), "--service-account", "web",
		"--token-file", world.AudienceVault+"="+tok, "--out", out)
	if res.code != 0 {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"jwt auth, role \"shop-web\" at auth/jwt", "audience vault from",
		"- Azure identity endpoint reachable: skipped", "- Azure token obtained: skipped",
		"✓ login accepted: role \"shop-web\" at auth/jwt accepted system:serviceaccount:shop:web", "✓ files written: 2 files"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	if got, err := os.ReadFile(filepath.Join(out, "api-key")); err != nil || string(got) != world.APIKey {
		t.Errorf("api-key = %q, %v", got, err)
	}
}
