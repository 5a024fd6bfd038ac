package vaultfront

import "testing"

// TestDatabaseCredsLeases: creds/<role> creates a user under a renewable
// lease capped at the role's max_ttl; revoking the lease drops the user.
func TestDatabaseCredsLeases(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "database", "database", nil))
	root := newClient(t, s, s.RootToken(), "")
	_, err := root.Logical().Write("database/roles/app", map[string]any{"db_name": "pg", "default_ttl": "30s", "max_ttl": "90s"})
	must(t, err)

	a, err := root.Logical().Read("database/creds/app")
	must(t, err)
	b, err := root.Logical().Read("database/creds/app")
	must(t, err)
	if a.LeaseID == "" || !a.Renewable || a.LeaseDuration != 30 {
		t.Fatalf("lease %q renewable %v duration %d, want a renewable 30 s lease", a.LeaseID, a.Renewable, a.LeaseDuration)
	}
	if a.Data["username"] == b.Data["username"] || a.Data["password"] == "" {
		t.Errorf("two reads gave users %v and %v", a.Data["username"], b.Data["username"])
	}
	renewed, err := root.Sys().Renew(a.LeaseID, 60)
	must(t, err)
	if renewed.LeaseID != a.LeaseID || renewed.LeaseDuration <= 0 || renewed.LeaseDuration > 90 {
		t.Errorf("renewal: %+v", renewed)
	}
	must(t, root.Sys().Revoke(a.LeaseID))

	users, err := s.DatabaseUsers("", "database")
	must(t, err)
	if len(users) != 2 {
		t.Fatalf("users = %+v", users)
	}
	for _, u := range users {
		switch u.Username {
		case a.Data["username"]:
			if u.Revoked.IsZero() || u.Renewals != 1 {
				t.Errorf("revoked user %+v", u)
			}
		case b.Data["username"]:
			if !u.Revoked.IsZero() {
				t.Errorf("live user %+v was revoked", u)
			}
		default:
			t.Errorf("unexpected user %+v", u)
		}
	}
	if _, err := root.Sys().Renew(a.LeaseID, 60); err == nil {
		t.Error("a revoked lease was renewed")
	}
}
