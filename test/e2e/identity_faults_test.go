package e2e

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// nodeIdentity is a class that logs in as the node's managed identity (IMDS).
var nodeIdentity = map[string]string{
	"roleName": "node-agent", "azureIdentity": "managed", "azureVMMetadata": "true",
	"objects": "- {objectName: db-password, secretPath: secret/shop/db, secretKey: password}\n",
}

// TestIdentityFaults takes one provider per log format through failures of
// the Azure identity endpoints and of the credentials the driver passes.
func TestIdentityFaults(t *testing.T) {
	steps := []faultStep{
		// First: azidentity caches the node's token process-wide.
		{"IMDS 429 with Retry-After", imdsRateLimited},
		{"Entra: invalid client assertion", entraInvalidAssertion},
		{"driver's token is not a JWT", notAJWT},
		{"Entra: unknown client", entraUnknownClient},
		{"driver's token expired", driverTokenExpired},
		{"expired JWT as client assertion, refused before Entra", expiredAssertion},
		{"expired JWT for kubernetes auth, refused before Vault", expiredKubernetesJWT},
		{"malformed serviceAccount.tokens", malformedTokens},
		{"node identity outside the allowlist", nodeIdentityRefused},
		{"path traversal", traversal},
	}
	for _, format := range logFormats {
		t.Run(format, func(t *testing.T) {
			p := startLogged(t, format, "--allow-node-identity-namespaces=ops")
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					defer theWorld.Azure.ClearFaults()
					s.run(t, p)
				})
			}
			mountDB(t, p, nil)
		})
	}
}

// TestIMDSNeverAnswers: the mount fails by its deadline; when IMDS answers
// again, the next mount succeeds on the same provider.
func TestIMDSNeverAnswers(t *testing.T) {
	for _, format := range logFormats {
		t.Run(format, func(t *testing.T) {
			p := startLogged(t, format, "--allow-node-identity-namespaces=ops")
			theWorld.Azure.InjectFault(azureemu.KindIMDSToken, azureemu.Fault{Latency: 6 * time.Second})
			defer theWorld.Azure.ClearFaults()
			start := time.Now()
			v, err := mountAs(t, p, world.SPC("imds-hang", nodeIdentity), world.OpsPod, 3*time.Second)
			expectFailure(t, v, err, codes.DeadlineExceeded)
			if d := time.Since(start); d > 3500*time.Millisecond {
				t.Errorf("answered after %v, past the 3s deadline", d)
			}
			theWorld.Azure.ClearFaults()
			v, err = mountAs(t, p, world.SPC("imds-back", nodeIdentity), world.OpsPod, 30*time.Second)
			if err != nil {
				t.Fatalf("mount after IMDS recovered: %v", err)
			}
			if got := readFile(t, v, "db-password"); got != world.DBPassword {
				t.Errorf("db-password = %q", got)
			}
		})
	}
}

// azureCount returns how many requests the emulator has had of kind.
func azureCount(kind string) int64 { return theWorld.Azure.Counts()[kind] }

func imdsRateLimited(t *testing.T, p *world.Provider) {
	theWorld.Azure.InjectFault(azureemu.KindIMDSToken, azureemu.Fault{Status: 429, RetryAfter: time.Second, Count: 1})
	before := azureCount(azureemu.KindIMDSToken)
	start := time.Now()
	v, err := mountAs(t, p, world.SPC("imds-429", nodeIdentity), world.OpsPod, 30*time.Second)
	if err != nil {
		t.Fatalf("mount through a rate-limited IMDS: %v", err)
	}
	if got := readFile(t, v, "db-password"); got != world.DBPassword {
		t.Errorf("db-password = %q", got)
	}
	if got := azureCount(azureemu.KindIMDSToken) - before; got != 2 {
		t.Errorf("%d IMDS token requests, want 2 (429, then the token)", got)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("mounted after %v: IMDS's Retry-After of 1s was not honoured", d)
	}
}

// workloadVolume is the web pod's workload-identity volume, tokens changed by edit.
func workloadVolume(t *testing.T, params map[string]string, edit func(v *driver.Volume)) *driver.Volume {
	t.Helper()
	v, err := theWorld.Volume(world.SPC("identity", withDefaults(params)), world.WebPod)
	if err != nil {
		t.Fatal(err)
	}
	edit(v)
	return v
}

// expiredToken is a service-account token of the web pod that expired an hour ago.
func expiredToken(t *testing.T, audience string) string {
	t.Helper()
	tok, err := theWorld.Cluster.Token(cluster.TokenRequest{
		Namespace: world.WebPod.Namespace, ServiceAccount: world.WebPod.ServiceAccount, Audiences: []string{audience},
		PodName: world.WebPod.Name, PodUID: world.WebPod.UID, TTL: time.Hour, IssuedAt: time.Now().Add(-2 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func entraInvalidAssertion(t *testing.T, p *world.Provider) {
	// A token that passes the provider's local checks (the web pod's
	// subject, not expired) but is signed by a key Entra does not know.
	forger, err := cluster.NewIssuer(world.ClusterIssuerURL)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := forger.ServiceAccountToken(world.WebPod.Namespace, world.WebPod.ServiceAccount, world.AudienceAzure, world.WebPod.Name, world.WebPod.UID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sensitive.addJWT(forged)
	v := workloadVolume(t, nil, func(v *driver.Volume) { v.Tokens[world.AudienceAzure] = forged })
	before := azureCount(azureemu.KindEntraToken)
	err = mountWithin(t, p, v, 30*time.Second)
	expectFailure(t, v, err, codes.Unauthenticated, "exchanging the service-account token of shop/web", "AADSTS5002738", "signature could not be validated")
	if got := azureCount(azureemu.KindEntraToken) - before; got != 1 {
		t.Errorf("%d Entra token requests, want 1: a refused assertion is not retried", got)
	}
}

// notAJWT: the driver's token is not a JWT: refused before any request.
func notAJWT(t *testing.T, p *world.Provider) {
	v := workloadVolume(t, nil, func(v *driver.Volume) { v.Tokens[world.AudienceAzure] = "not-a-jwt-but-long-enough" })
	before := azureCount(azureemu.KindEntraToken)
	err := mountWithin(t, p, v, 30*time.Second)
	expectFailure(t, v, err, codes.Unauthenticated, `audience "api://AzureADTokenExchange" is not a service-account JWT`)
	if got := azureCount(azureemu.KindEntraToken) - before; got != 0 {
		t.Errorf("a token that is no JWT was sent to Entra %d times", got)
	}
}

func entraUnknownClient(t *testing.T, p *world.Provider) {
	const unknown = "5b0c1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
	v := workloadVolume(t, map[string]string{"clientID": unknown}, func(*driver.Volume) {})
	err := mountWithin(t, p, v, 30*time.Second)
	expectFailure(t, v, err, codes.Unauthenticated, unknown, "AADSTS700016")
}

func driverTokenExpired(t *testing.T, p *world.Provider) {
	before := azureCount(azureemu.KindEntraToken)
	v := workloadVolume(t, nil, func(v *driver.Volume) {
		v.TokenExp = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	})
	err := mountWithin(t, p, v, 30*time.Second)
	expectFailure(t, v, err, codes.Unauthenticated, "expired at", "requiresRepublish")
	if got := azureCount(azureemu.KindEntraToken) - before; got != 0 {
		t.Errorf("an expired token was sent to Entra %d times", got)
	}
}

// expiredAssertion: a JWT whose exp has passed (the driver's timestamp
// says otherwise) is refused locally, before Entra ID.
func expiredAssertion(t *testing.T, p *world.Provider) {
	v := workloadVolume(t, nil, func(v *driver.Volume) { v.Tokens[world.AudienceAzure] = expiredToken(t, world.AudienceAzure) })
	before := azureCount(azureemu.KindEntraToken)
	err := mountWithin(t, p, v, 30*time.Second)
	expectFailure(t, v, err, codes.Unauthenticated, `audience "api://AzureADTokenExchange" expired at`, "requiresRepublish")
	if got := azureCount(azureemu.KindEntraToken) - before; got != 0 {
		t.Errorf("an expired assertion was sent to Entra %d times", got)
	}
}

// expiredKubernetesJWT: the same for kubernetes auth, before Vault.
func expiredKubernetesJWT(t *testing.T, p *world.Provider) {
	params := map[string]string{"vaultAuthMethod": "kubernetes", "audience": world.AudienceVault}
	tok := expiredToken(t, world.AudienceVault)
	v := workloadVolume(t, params, func(v *driver.Volume) { v.Tokens[world.AudienceVault] = tok })
	before := requests("auth/kubernetes/login")
	err := mountWithin(t, p, v, 30*time.Second)
	expectFailure(t, v, err, codes.Unauthenticated, `audience "vault" expired at`, "requiresRepublish")
	if got := requests("auth/kubernetes/login") - before; got != 0 {
		t.Errorf("an expired token was sent to Vault %d times", got)
	}
}

func malformedTokens(t *testing.T, p *world.Provider) {
	params := map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": `{"api://AzureADTokenExchange":{"token":`}
	v := workloadVolume(t, params, func(v *driver.Volume) { v.Tokens = nil })
	err := mountWithin(t, p, v, 30*time.Second)
	expectFailure(t, v, err, codes.InvalidArgument, "csi.storage.k8s.io/serviceAccount.tokens", "syntax error")
}

func nodeIdentityRefused(t *testing.T, p *world.Provider) {
	v, err := mountAs(t, p, world.SPC("node", nodeIdentity), world.WebPod, 30*time.Second)
	expectFailure(t, v, err, codes.FailedPrecondition, "--allow-node-identity")
}

func traversal(t *testing.T, p *world.Provider) {
	objects := "- {objectName: ../../../../etc/cron.d/x, secretPath: secret/shop/db, secretKey: password}\n"
	v, err := mountAs(t, p, world.SPC("traversal", withDefaults(map[string]string{"objects": objects})), world.WebPod, 30*time.Second)
	expectFailure(t, v, err, codes.InvalidArgument, "objects[0].objectName", "relative path inside the mount")
}
