package vaultfront

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/jackc/pgx/v5"
)

// A database connection, as Vault's database engine configures one at
// config/<name>: with a connection_url, the stand-in creates, extends and
// drops real PostgreSQL roles with the role's statements (or Vault's
// PostgreSQL plugin's defaults), so a credential is a real login; without
// one it only keeps its books.
type databaseConfig struct {
	PluginName    string `json:"plugin_name"`
	ConnectionURL string `json:"connection_url"`
	Username      string `json:"username"`
	Password      string `json:"password"`
}

// Vault's PostgreSQL plugin's defaults.
const (
	defaultRenewStatement      = `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';`
	defaultRevocationStatement = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}'; DROP ROLE IF EXISTS "{{name}}";`
	pgExpirationFormat         = "2006-01-02 15:04:05-0700"
)

func (b *databaseBackend) pathConfig() *framework.Path {
	return &framework.Path{
		Pattern: "config/" + framework.GenericNameRegex("name"),
		Fields: map[string]*framework.FieldSchema{
			"name":              {Type: framework.TypeString, Required: true},
			"plugin_name":       {Type: framework.TypeString},
			"connection_url":    {Type: framework.TypeString},
			"username":          {Type: framework.TypeString},
			"password":          {Type: framework.TypeString},
			"allowed_roles":     {Type: framework.TypeCommaStringSlice},
			"verify_connection": {Type: framework.TypeBool, Default: true},
		},
		ExistenceCheck: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
			c, err := b.config(ctx, req.Storage, d.Get("name").(string))
			return c != nil, err
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.CreateOperation: &framework.PathOperation{Callback: b.writeConfig},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.writeConfig},
		},
	}
}

func (b *databaseBackend) writeConfig(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	c := &databaseConfig{
		PluginName:    d.Get("plugin_name").(string),
		ConnectionURL: d.Get("connection_url").(string),
		Username:      d.Get("username").(string),
		Password:      d.Get("password").(string),
	}
	if c.ConnectionURL != "" && d.Get("verify_connection").(bool) {
		if err := c.exec(ctx, "SELECT 1", nil); err != nil {
			return logical.ErrorResponse("error verifying connection: %v", err), nil
		}
	}
	e, err := logical.StorageEntryJSON("config/"+d.Get("name").(string), c)
	if err != nil {
		return nil, err
	}
	return nil, req.Storage.Put(ctx, e)
}

func (b *databaseBackend) config(ctx context.Context, s logical.Storage, name string) (*databaseConfig, error) {
	e, err := s.Get(ctx, "config/"+name)
	if err != nil || e == nil {
		return nil, err
	}
	c := &databaseConfig{}
	return c, e.DecodeJSON(c)
}

// dsn is the connection URL with Vault's {{username}} and {{password}}
// templates filled in.
func (c *databaseConfig) dsn() string {
	r := strings.NewReplacer("{{username}}", url.PathEscape(c.Username), "{{password}}", url.PathEscape(c.Password))
	return r.Replace(c.ConnectionURL)
}

// exec runs statements (separated by ";", as Vault's plugin splits them)
// with the templates in vars filled in.
func (c *databaseConfig) exec(ctx context.Context, statements string, vars map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn())
	if err != nil {
		return fmt.Errorf("connecting to the database: %w", err)
	}
	defer conn.Close(context.Background())
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, "{{"+k+"}}", v)
	}
	r := strings.NewReplacer(pairs...)
	for _, stmt := range strings.Split(statements, ";") {
		if stmt = strings.TrimSpace(stmt); stmt == "" {
			continue
		}
		if _, err := conn.Exec(ctx, r.Replace(stmt)); err != nil {
			return fmt.Errorf("running a statement: %w", err)
		}
	}
	return nil
}

// sqlVars are the templates of a role's statements.
func sqlVars(username, password string, expires time.Time) map[string]string {
	return map[string]string{"name": username, "username": username, "password": password, "expiration": expires.Format(pgExpirationFormat)}
}
