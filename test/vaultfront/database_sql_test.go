package vaultfront

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/pgserver"
)

// startPostgres starts a real PostgreSQL server; without one it fails as
// root on Linux (CI installs it) and skips elsewhere.
func startPostgres(t *testing.T) *pgserver.Server {
	t.Helper()
	if _, err := pgserver.Binaries(); err != nil {
		if runtime.GOOS == "linux" && os.Geteuid() == 0 {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	pg, err := pgserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Close() })
	return pg
}

// TestDatabaseCredsArePostgresLogins: with a connection_url, a credential
// is a real PostgreSQL role valid until its lease ends; renewing the lease
// extends it (VALID UNTIL) and revoking it drops the role, as Vault's
// PostgreSQL plugin does.
func TestDatabaseCredsArePostgresLogins(t *testing.T) {
	pg := startPostgres(t)
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "database", "database", nil))
	root := newClient(t, s, s.RootToken(), "")
	_, err := root.Logical().Write("database/config/pg", map[string]any{
		"plugin_name": "postgresql-database-plugin", "connection_url": pg.VaultConnectionURL(),
		"username": pg.User, "password": pg.Password, "allowed_roles": "app",
	})
	must(t, err)
	_, err = root.Logical().Write("database/roles/app", map[string]any{"db_name": "pg", "default_ttl": "3s", "max_ttl": "1h",
		"creation_statements": []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`}})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	a, err := root.Logical().Read("database/creds/app")
	must(t, err)
	user, pw := a.Data["username"].(string), a.Data["password"].(string)
	if err := pg.Ping(ctx, user, pw); err != nil {
		t.Fatalf("logging in with a fresh credential: %v", err)
	}
	if err := pg.Ping(ctx, user, pw+"x"); err == nil {
		t.Fatal("logged in with a wrong password")
	}
	for range 3 { // past its first 3 s only if renewed
		time.Sleep(2 * time.Second)
		_, err := root.Sys().Renew(a.LeaseID, 3)
		must(t, err)
	}
	if err := pg.Ping(ctx, user, pw); err != nil {
		t.Fatalf("logging in 6 s into a renewed 3 s credential: %v", err)
	}
	b, err := root.Logical().Read("database/creds/app")
	must(t, err)
	time.Sleep(4 * time.Second)
	if err := pg.Ping(ctx, b.Data["username"].(string), b.Data["password"].(string)); err == nil {
		t.Error("an unrenewed credential still logs in after its lease's end (VALID UNTIL not set)")
	}
	must(t, root.Sys().Revoke(a.LeaseID))
	if err := pg.Ping(ctx, user, pw); err == nil {
		t.Error("a revoked credential still logs in")
	}
}
