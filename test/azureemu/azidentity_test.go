package azureemu_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
)

// entraOptions points azidentity at the emulator's authority over TLS that
// trusts the test CA.
func entraOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: w.emu.AuthorityURL()},
		Transport: w.client,
	}
}

// claims decodes a token's claims without verifying it.
func claims(t *testing.T, raw string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	var m map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// workloadToken exchanges a service-account token for an Entra access token
// with azidentity's ClientAssertionCredential, as an AKS workload would.
func workloadToken(ctx context.Context, clientID, assertion, scope string) (azcore.AccessToken, error) {
	cred, err := azidentity.NewClientAssertionCredential(tenantID, clientID,
		func(context.Context) (string, error) { return assertion, nil },
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: entraOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
}

func TestAzidentityWorkloadIdentity(t *testing.T) {
	expired, err := w.issuer.Token(cluster.TokenRequest{Namespace: "team-a", ServiceAccount: "web",
		Audiences: []string{azureemu.TokenExchangeAudience}, TTL: time.Hour, IssuedAt: time.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	otherCluster, err := cluster.NewIssuer(issuerURL) // same issuer URL, different key
	if err != nil {
		t.Fatal(err)
	}
	forged, err := otherCluster.ServiceAccountToken("team-a", "web", azureemu.TokenExchangeAudience, "web-0", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wrongAud, err := w.issuer.ServiceAccountToken("team-a", "web", "vault", "web-0", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		clientID  string
		assertion string
		scope     string
		wantAud   string // success when set
		wantErr   string
	}{
		{"double slash scope", workload.ClientID, saToken(t, "team-a", "web"), "https://management.azure.com//.default", "https://management.azure.com/", ""},
		{"single slash scope drops slash", workload.ClientID, saToken(t, "team-a", "web"), "https://management.azure.com/.default", "https://management.azure.com", ""},
		{"unknown client id", "ffffffff-0000-4000-8000-000000000000", saToken(t, "team-a", "web"), "https://management.azure.com//.default", "", "AADSTS700016"},
		{"untrusted subject", workload.ClientID, saToken(t, "team-a", "intruder"), "https://management.azure.com//.default", "", "AADSTS700213"},
		{"expired assertion", workload.ClientID, expired, "https://management.azure.com//.default", "", "AADSTS700024"},
		{"assertion for another audience", workload.ClientID, wrongAud, "https://management.azure.com//.default", "", "AADSTS700212"},
		{"assertion signed by another key", workload.ClientID, forged, "https://management.azure.com//.default", "", "AADSTS5002738"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok, err := workloadToken(ctx, tc.clientID, tc.assertion, tc.scope)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error with %s, got %v", tc.wantErr, err)
				}
				t.Logf("refused as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := claims(t, tok.Token)
			if c["aud"] != tc.wantAud || c["oid"] != workload.ObjectID || c["appid"] != workload.ClientID ||
				c["iss"] != "https://sts.windows.net/"+tenantID+"/" || c["xms_mirid"] != workload.ResourceID {
				t.Fatalf("claims %v", c)
			}
		})
	}
}

func TestAzidentityWorkloadIdentityCredentialFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(file, []byte(saToken(t, "team-a", "web")), 0o600); err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: entraOptions(), ClientID: workload.ClientID, TenantID: tenantID,
		TokenFilePath: file, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := claims(t, tok.Token); c["aud"] != "https://vault.azure.net" || c["oid"] != workload.ObjectID {
		t.Fatalf("claims %v", c)
	}
}

// imdsRedirect sends requests for the hard-coded IMDS address to the emulator.
type imdsRedirect struct {
	target *url.URL
	next   policy.Transporter
}

func (r imdsRedirect) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Hostname() == "169.254.169.254" {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = r.target.Scheme, r.target.Host, ""
	}
	return r.next.Do(req)
}

func managedIdentityCredential(t *testing.T, id azidentity.ManagedIDKind) *azidentity.ManagedIdentityCredential {
	t.Helper()
	target, err := url.Parse(w.emu.IMDSURL())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ID:            id,
		ClientOptions: azcore.ClientOptions{Transport: imdsRedirect{target: target, next: w.client}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// Each case uses its own resource: azidentity caches managed-identity tokens
// process-wide (a second run in the same process, e.g. -count=2, is served
// from that cache).
func TestAzidentityManagedIdentity(t *testing.T) {
	w.emu.SetVM(aksNode())
	tests := []struct {
		name    string
		id      azidentity.ManagedIDKind
		scope   string
		wantOID string
		wantErr string
	}{
		{"system assigned", nil, "https://management.azure.com/.default", nodeSystem.ObjectID, ""},
		{"user assigned by client id", azidentity.ClientID(kubelet.ClientID), "api://mi-by-client-id/.default", kubelet.ObjectID, ""},
		{"user assigned by resource id", azidentity.ResourceID(kubelet.ResourceID), "api://mi-by-resource-id/.default", kubelet.ObjectID, ""},
		{"identity not on node", azidentity.ClientID(workload.ClientID), "api://mi-not-attached/.default", "", "isn't assigned to this resource"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok, err := managedIdentityCredential(t, tc.id).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{tc.scope}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error with %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := claims(t, tok.Token)
			if c["oid"] != tc.wantOID || c["aud"] != strings.TrimSuffix(tc.scope, "/.default") {
				t.Fatalf("claims %v", c)
			}
		})
	}
}

// The resource is unique per run so that the process-wide token cache cannot
// answer instead of IMDS.
func TestAzidentityManagedIdentityRetriesThrottling(t *testing.T) {
	w.emu.SetVM(aksNode())
	w.emu.ResetCounts()
	w.emu.InjectFault(azureemu.KindIMDSToken, azureemu.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: 2})
	defer w.emu.ClearFaults()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	tok, err := managedIdentityCredential(t, azidentity.ClientID(kubelet.ClientID)).
		GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://mi-throttled-" + uuid.NewString() + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := claims(t, tok.Token); c["oid"] != kubelet.ObjectID {
		t.Fatalf("claims %v", c)
	}
	if n := w.emu.Counts()[azureemu.KindIMDSToken]; n != 3 {
		t.Fatalf("IMDS token requests %d, want 3 (two throttled, one served)", n)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("Retry-After not honoured: took %v", d)
	}
}
