package e2e

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/azureemu"
	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
	"github.com/vaultazure/vault-azure-csi-provider/test/driver"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// TestDriverTokenCheckedOnEveryMount: with the identity's Vault token
// cached, a Mount whose driver-supplied service-account token is missing,
// expired, or another service account's still fails — with the message a
// cold provider gives — and reaches neither Entra ID nor Vault.
func TestDriverTokenCheckedOnEveryMount(t *testing.T) {
	modes := []struct {
		name     string
		params   map[string]string
		audience string
	}{
		{"workload identity", withDefaults(nil), world.AudienceAzure},
		{"kubernetes auth", withDefaults(map[string]string{"vaultAuthMethod": "kubernetes", "audience": world.AudienceVault}), world.AudienceVault},
	}
	other := world.BillingPod
	breakages := []struct {
		name  string
		spoil func(t *testing.T, v *driver.Volume, audience string)
		want  string
	}{
		{"no token for the audience", func(_ *testing.T, v *driver.Volume, aud string) { delete(v.Tokens, aud) },
			"supplied no service-account token"},
		{"no tokens at all (tokenRequests missing)", func(_ *testing.T, v *driver.Volume, _ string) { v.Tokens = nil },
			"supplied no service-account token"},
		{"expired per the driver (requiresRepublish off)", func(_ *testing.T, v *driver.Volume, _ string) {
			v.TokenExp = time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		}, "expired at"},
		{"expired JWT", func(t *testing.T, v *driver.Volume, aud string) {
			tok, err := theWorld.Cluster.Token(cluster.TokenRequest{Namespace: world.WebPod.Namespace, ServiceAccount: world.WebPod.ServiceAccount,
				Audiences: []string{aud}, PodName: world.WebPod.Name, PodUID: world.WebPod.UID, TTL: time.Minute, IssuedAt: time.Now().Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			v.Tokens[aud] = tok
		}, "expired at"},
		{"another service account's token", func(t *testing.T, v *driver.Volume, aud string) {
			tok, err := theWorld.Cluster.ServiceAccountToken(other.Namespace, other.ServiceAccount, aud, other.Name, other.UID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			v.Tokens[aud] = tok
		}, `not the pod's service account "system:serviceaccount:shop:web"`},
	}
	warm := startLogged(t, "text")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			spc := world.SPC("sa-check", m.params)
			if _, err := mountAs(t, warm, spc, world.WebPod, 30*time.Second); err != nil {
				t.Fatalf("warm mount: %v", err)
			}
			for _, b := range breakages {
				t.Run(b.name, func(t *testing.T) {
					v, err := theWorld.Volume(spc, world.WebPod)
					if err != nil {
						t.Fatal(err)
					}
					b.spoil(t, v, m.audience)
					vaultBefore, entraBefore := theWorld.Vault.Stats(), azureCount(azureemu.KindEntraToken)
					warmErr := mountWithin(t, warm, v, 30*time.Second)
					expectFailure(t, v, warmErr, codes.Unauthenticated, b.want)
					if got := theWorld.Vault.Stats(); got.Logins != vaultBefore.Logins || got.Reads != vaultBefore.Reads {
						t.Errorf("the refused mount reached Vault: logins %d→%d, reads %d→%d", vaultBefore.Logins, got.Logins, vaultBefore.Reads, got.Reads)
					}
					if got := azureCount(azureemu.KindEntraToken); got != entraBefore {
						t.Errorf("the refused mount reached Entra ID")
					}
					// A cold provider says the same.
					cold, err := theWorld.StartProvider("--secret-cache-ttl=0")
					if err != nil {
						t.Fatal(err)
					}
					defer cold.Stop()
					coldErr := mountWithin(t, cold, v, 30*time.Second)
					if status.Convert(coldErr).Message() != status.Convert(warmErr).Message() || status.Code(coldErr) != status.Code(warmErr) {
						t.Errorf("warm and cold providers answer differently:\nwarm: %v\ncold: %v", warmErr, coldErr)
					}
				})
			}
		})
	}
}
