package vaultfront

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// newTokenTestServer returns a server with a kv v2 mount and a "reader"
// policy, and a root client.
func newTokenTestServer(t *testing.T) (*Server, *api.Client) {
	t.Helper()
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "secret", "kv", map[string]string{"version": "2"}))
	must(t, s.PutPolicy("", "reader", `path "secret/data/*" { capabilities = ["read"] }`))
	return s, newClient(t, s, s.RootToken(), "")
}

func TestTokenLookup(t *testing.T) {
	s, root := newTokenTestServer(t)

	t.Run("lookup-self", func(t *testing.T) {
		c := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"reader"}, TTL: "10m"}), "")
		sec, err := c.Auth().Token().LookupSelf()
		must(t, err)
		ttl, err := sec.TokenTTL()
		must(t, err)
		policies, err := sec.TokenPolicies()
		must(t, err)
		if ttl <= 9*time.Minute || ttl > 10*time.Minute || len(policies) != 2 {
			t.Errorf("ttl %v policies %v", ttl, policies)
		}
		if renewable, _ := sec.TokenIsRenewable(); !renewable {
			t.Errorf("token not renewable: %v", sec.Data)
		}
	})

	t.Run("root token lookup and no expiry", func(t *testing.T) {
		sec, err := root.Auth().Token().LookupSelf()
		must(t, err)
		if sec.Data["ttl"] != json.Number("0") || sec.Data["expire_time"] != nil {
			t.Errorf("root lookup = %v", sec.Data)
		}
	})

	t.Run("bearer header", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, s.Addr()+"/v1/auth/token/lookup-self", nil)
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+s.RootToken())
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d", resp.StatusCode)
		}
	})

	t.Run("bad and missing tokens", func(t *testing.T) {
		for _, tok := range []string{"", "hvs.nope"} {
			_, err := newClient(t, s, tok, "").Logical().Read("secret/data/x")
			wantStatus(t, err, http.StatusForbidden)
		}
	})
}

func TestTokenTTLAndRenewal(t *testing.T) {
	s, root := newTokenTestServer(t)

	t.Run("ttl expiry", func(t *testing.T) {
		c := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"reader"}, TTL: "1s"}), "")
		_, err := c.Auth().Token().LookupSelf()
		must(t, err)
		time.Sleep(1100 * time.Millisecond)
		_, err = c.Auth().Token().LookupSelf()
		wantStatus(t, err, http.StatusForbidden)
	})

	t.Run("renew-self extends up to explicit max", func(t *testing.T) {
		c := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{
			Policies: []string{"reader"}, TTL: "2s", ExplicitMaxTTL: "1h"}), "")
		sec, err := c.Auth().Token().RenewSelf(600)
		must(t, err)
		if sec.Auth == nil || sec.Auth.LeaseDuration < 590 || !sec.Auth.Renewable {
			t.Fatalf("renew = %+v", sec.Auth)
		}
		time.Sleep(2100 * time.Millisecond)
		_, err = c.Auth().Token().LookupSelf()
		must(t, err)
		sec, err = c.Auth().Token().RenewSelf(7200)
		must(t, err)
		if sec.Auth.LeaseDuration > 3600 || len(sec.Warnings) == 0 {
			t.Errorf("renew past max: duration %d warnings %v", sec.Auth.LeaseDuration, sec.Warnings)
		}
	})

	t.Run("renew-self of non-renewable token", func(t *testing.T) {
		renewable := false
		c := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{
			Policies: []string{"reader"}, TTL: "1h", Renewable: &renewable}), "")
		_, err := c.Auth().Token().RenewSelf(0)
		wantStatus(t, err, http.StatusBadRequest)
	})
}

func TestTokenRevocation(t *testing.T) {
	s, root := newTokenTestServer(t)

	t.Run("revoke-self", func(t *testing.T) {
		c := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"reader"}}), "")
		must(t, c.Auth().Token().RevokeSelf(""))
		_, err := c.Auth().Token().LookupSelf()
		wantStatus(t, err, http.StatusForbidden)
	})

	t.Run("RevokeAllTokens keeps root", func(t *testing.T) {
		c := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"reader"}}), "")
		s.RevokeAllTokens()
		_, err := c.Logical().Read("secret/data/x")
		wantStatus(t, err, http.StatusForbidden)
		_, err = root.Auth().Token().LookupSelf()
		must(t, err)
	})
}

func TestTokenLimits(t *testing.T) {
	s, root := newTokenTestServer(t)

	t.Run("num_uses", func(t *testing.T) {
		c := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"reader"}, NumUses: 2}), "")
		for i := 0; i < 2; i++ {
			_, err := c.Logical().Read("secret/data/x")
			must(t, err)
		}
		_, err := c.Logical().Read("secret/data/x")
		wantStatus(t, err, http.StatusForbidden)
	})

	t.Run("child policies must be subset", func(t *testing.T) {
		c := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"reader"}}), "")
		must(t, s.PutPolicy("", "creator", `path "auth/token/create" { capabilities = ["update"] }`))
		c = newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"creator"}}), "")
		_, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
		wantStatus(t, err, http.StatusBadRequest)
	})
}
