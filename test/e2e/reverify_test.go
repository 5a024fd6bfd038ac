package e2e

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// roleTTL is the token_ttl of the roles in these tests: short, so that
// losing an identity shows within seconds.
const roleTTL = 6 * time.Second

// writeVault writes data at path with the root token.
func writeVault(t *testing.T, path string, data map[string]any) {
	t.Helper()
	root, err := theWorld.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write(path, data); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// bindTTLRole (re)writes auth/azure/role/<name>, binding the object id oid,
// with roleTTL.
func bindTTLRole(t *testing.T, name, oid string) {
	t.Helper()
	writeVault(t, "auth/azure/role/"+name, map[string]any{
		"bound_service_principal_ids": oid, "token_policies": "shop-web",
		"token_ttl": roleTTL.String(), "token_max_ttl": "1h",
	})
}

// untilRefused mounts the class every 200ms until a mount fails or limit
// passes, and returns how long after start the first failure came.
func untilRefused(t *testing.T, p *world.Provider, params map[string]string, limit time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if _, err := mountAs(t, p, world.SPC("reverify", params), world.WebPod, 30*time.Second); err != nil {
			return time.Since(start), err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, nil
}

// TestIdentityReverifiedWithinTokenTTL: a Vault token is used only within
// the lifetime granted at login, then the provider logs in again with a
// fresh Azure token, so when the identity loses its access (the role no
// longer binds it, or its federated credential is deleted) mounts fail
// within one token_ttl — with the default secret cache on. With
// --renew-tokens (opt-in) renewal keeps the token alive: Vault's azure
// method only checks that the role exists.
func TestIdentityReverifiedWithinTokenTTL(t *testing.T) {
	params := withDefaults(map[string]string{"roleName": "ttl-web"})
	defer bindTTLRole(t, "ttl-web", world.AppIdentity.ObjectID)
	steps := []struct {
		name    string
		revoke  func(t *testing.T)
		restore func(t *testing.T)
		want    []string
	}{
		{"role no longer binds the identity",
			func(t *testing.T) { bindTTLRole(t, "ttl-web", world.OtherIdentity.ObjectID) },
			func(t *testing.T) { bindTTLRole(t, "ttl-web", world.AppIdentity.ObjectID) },
			[]string{"service principal not authorized", world.AppIdentity.ObjectID}},
		{"federated credential deleted",
			func(*testing.T) {
				theWorld.Azure.RemoveFederatedCredential(world.AppIdentity.ClientID, world.ClusterIssuerURL, world.WebPod.Subject())
			},
			func(*testing.T) {
				theWorld.Azure.AddFederatedCredential(world.AppIdentity.ClientID, world.ClusterIssuerURL, world.WebPod.Subject())
			},
			[]string{"exchanging the service-account token of shop/web at Entra ID"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			bindTTLRole(t, "ttl-web", world.AppIdentity.ObjectID)
			p := startLogged(t, "text")
			if _, err := mountAs(t, p, world.SPC("reverify", params), world.WebPod, 30*time.Second); err != nil {
				t.Fatalf("warm mount: %v", err)
			}
			s.revoke(t)
			defer s.restore(t)
			after, err := untilRefused(t, p, params, 3*roleTTL)
			if err == nil {
				t.Fatalf("mounts still succeed %s after the identity lost its access (token_ttl %s)", 3*roleTTL, roleTTL)
			}
			t.Logf("refused %s after the identity lost its access (token_ttl %s): %v", after.Round(time.Millisecond), roleTTL, err)
			if after > roleTTL {
				t.Errorf("refused only after %s, more than one token_ttl (%s)", after, roleTTL)
			}
			st, _ := status.FromError(err)
			if st.Code() != codes.PermissionDenied && st.Code() != codes.Unauthenticated {
				t.Errorf("code %s, want PermissionDenied or Unauthenticated", st.Code())
			}
			for _, w := range s.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("the refusal does not say %q: %s", w, st.Message())
				}
			}
		})
	}
	t.Run("--renew-tokens keeps a renewed token past the unbinding", func(t *testing.T) {
		bindTTLRole(t, "ttl-web", world.AppIdentity.ObjectID)
		p := startLogged(t, "text", "--renew-tokens")
		if _, err := mountAs(t, p, world.SPC("reverify", params), world.WebPod, 30*time.Second); err != nil {
			t.Fatalf("warm mount: %v", err)
		}
		bindTTLRole(t, "ttl-web", world.OtherIdentity.ObjectID)
		if after, err := untilRefused(t, p, params, 2*roleTTL); err != nil {
			t.Fatalf("with --renew-tokens a mount failed after %s: %v (renewal should have kept the token)", after, err)
		}
	})
}
