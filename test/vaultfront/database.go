package vaultfront

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// secretTypeCreds is the secret type of database credentials (Vault's name).
const secretTypeCreds = "creds"

// databaseBackend stands in for Vault's database secrets engine, whose
// plugins need a real database: roles/<name> and creds/<name>, which hands
// out a new username and password under a renewable lease (default_ttl,
// capped at max_ttl), as Vault's engine does. Revoking the lease drops the
// user. It keeps count of the users it created, for tests.
type databaseBackend struct {
	*framework.Backend

	mu    sync.Mutex
	users map[string]*DatabaseUser // username → user
}

// DatabaseUser is a user the database engine created.
type DatabaseUser struct {
	Username string
	Role     string
	// DisplayName is the display name of the token that asked (Vault's
	// username templates start with it), e.g. "azure-<oid>".
	DisplayName string
	Created     time.Time
	Renewals    int
	Revoked     time.Time // zero while live
}

type databaseRole struct {
	DBName               string        `json:"db_name"`
	DefaultTTL           time.Duration `json:"default_ttl"`
	MaxTTL               time.Duration `json:"max_ttl"`
	CreationStatements   []string      `json:"creation_statements"`
	RenewStatements      []string      `json:"renew_statements"`
	RevocationStatements []string      `json:"revocation_statements"`
}

func databaseFactory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := &databaseBackend{users: map[string]*DatabaseUser{}}
	b.Backend = &framework.Backend{
		BackendType: logical.TypeLogical,
		Help:        "vaultfront's stand-in for the database secrets engine: leased, renewable credentials.",
		Paths:       []*framework.Path{b.pathConfig(), b.pathRoles(), b.pathCreds()},
		Secrets: []*framework.Secret{{
			Type:   secretTypeCreds,
			Fields: map[string]*framework.FieldSchema{"username": {Type: framework.TypeString}},
			Renew:  b.renewCreds,
			Revoke: b.revokeCreds,
		}},
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, fmt.Errorf("set up database backend: %w", err)
	}
	return b, nil
}

func (b *databaseBackend) pathRoles() *framework.Path {
	return &framework.Path{
		Pattern: "roles/" + framework.GenericNameRegex("name"),
		Fields: map[string]*framework.FieldSchema{
			"name":                  {Type: framework.TypeString, Required: true},
			"db_name":               {Type: framework.TypeString},
			"creation_statements":   {Type: framework.TypeStringSlice},
			"renew_statements":      {Type: framework.TypeStringSlice},
			"revocation_statements": {Type: framework.TypeStringSlice},
			"default_ttl":           {Type: framework.TypeDurationSecond},
			"max_ttl":               {Type: framework.TypeDurationSecond},
		},
		ExistenceCheck: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
			r, err := b.role(ctx, req.Storage, d.Get("name").(string))
			return r != nil, err
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.CreateOperation: &framework.PathOperation{Callback: b.writeRole},
			logical.UpdateOperation: &framework.PathOperation{Callback: b.writeRole},
			logical.ReadOperation: &framework.PathOperation{Callback: func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
				r, err := b.role(ctx, req.Storage, d.Get("name").(string))
				if err != nil || r == nil {
					return nil, err
				}
				return &logical.Response{Data: map[string]interface{}{
					"default_ttl": int64(r.DefaultTTL.Seconds()), "max_ttl": int64(r.MaxTTL.Seconds()),
				}}, nil
			}},
		},
	}
}

func (b *databaseBackend) role(ctx context.Context, s logical.Storage, name string) (*databaseRole, error) {
	e, err := s.Get(ctx, "role/"+name)
	if err != nil || e == nil {
		return nil, err
	}
	r := &databaseRole{}
	if err := e.DecodeJSON(r); err != nil {
		return nil, fmt.Errorf("decode role %s: %w", name, err)
	}
	return r, nil
}

func (b *databaseBackend) writeRole(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r := &databaseRole{
		DBName:               d.Get("db_name").(string),
		DefaultTTL:           time.Duration(d.Get("default_ttl").(int)) * time.Second,
		MaxTTL:               time.Duration(d.Get("max_ttl").(int)) * time.Second,
		CreationStatements:   d.Get("creation_statements").([]string),
		RenewStatements:      d.Get("renew_statements").([]string),
		RevocationStatements: d.Get("revocation_statements").([]string),
	}
	e, err := logical.StorageEntryJSON("role/"+d.Get("name").(string), r)
	if err != nil {
		return nil, err
	}
	return nil, req.Storage.Put(ctx, e)
}

func (b *databaseBackend) pathCreds() *framework.Path {
	return &framework.Path{
		Pattern: "creds/" + framework.GenericNameRegex("name"),
		Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString, Required: true}},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{Callback: b.readCreds},
		},
	}
}

// readCreds creates a user for the role and returns it under a lease.
func (b *databaseBackend) readCreds(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	role, err := b.role(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return logical.ErrorResponse("unknown role: %s", name), nil
	}
	id, err := uuid.GenerateUUID()
	if err != nil {
		return nil, err
	}
	password, err := uuid.GenerateUUID()
	if err != nil {
		return nil, err
	}
	// As Vault's default template: v-<display name>-<role>-<random>.
	username := "v-" + truncate(req.DisplayName, 24) + "-" + truncate(name, 8) + "-" + id[:8]
	password = "A1a-" + password
	if conn, err := b.connection(ctx, req.Storage, role); err != nil {
		return nil, err
	} else if conn != nil {
		if len(role.CreationStatements) == 0 {
			return logical.ErrorResponse("role %s has no creation_statements", name), nil
		}
		if err := conn.exec(ctx, strings.Join(role.CreationStatements, ";"), sqlVars(username, password, time.Now().Add(role.DefaultTTL))); err != nil {
			return nil, fmt.Errorf("creating user %s: %w", username, err)
		}
	}
	b.mu.Lock()
	b.users[username] = &DatabaseUser{Username: username, Role: name, DisplayName: req.DisplayName, Created: time.Now()}
	b.mu.Unlock()
	resp := b.Secret(secretTypeCreds).Response(
		map[string]interface{}{"username": username, "password": password},
		map[string]interface{}{"username": username, "role": name})
	resp.Secret.TTL = role.DefaultTTL
	resp.Secret.MaxTTL = role.MaxTTL
	return resp, nil
}

func (b *databaseBackend) renewCreds(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	username, _ := req.Secret.InternalData["username"].(string)
	roleName, _ := req.Secret.InternalData["role"].(string)
	role, err := b.role(ctx, req.Storage, roleName)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, fmt.Errorf("error during renew: could not find role with name %s", roleName)
	}
	b.mu.Lock()
	u := b.users[username]
	if u == nil || !u.Revoked.IsZero() {
		b.mu.Unlock()
		return nil, fmt.Errorf("user %s does not exist", username)
	}
	u.Renewals++
	b.mu.Unlock()
	if conn, err := b.connection(ctx, req.Storage, role); err != nil {
		return nil, err
	} else if conn != nil {
		// The lease's new end, as the expiration manager will grant it.
		expires := time.Now().Add(role.DefaultTTL)
		if role.MaxTTL > 0 && expires.After(req.Secret.IssueTime.Add(role.MaxTTL)) {
			expires = req.Secret.IssueTime.Add(role.MaxTTL)
		}
		stmts := cmp.Or(strings.Join(role.RenewStatements, ";"), defaultRenewStatement)
		if err := conn.exec(ctx, stmts, sqlVars(username, "", expires)); err != nil {
			return nil, fmt.Errorf("extending user %s: %w", username, err)
		}
	}
	resp := &logical.Response{Secret: req.Secret}
	resp.Secret.TTL = role.DefaultTTL
	resp.Secret.MaxTTL = role.MaxTTL
	return resp, nil
}

func (b *databaseBackend) revokeCreds(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	username, _ := req.Secret.InternalData["username"].(string)
	roleName, _ := req.Secret.InternalData["role"].(string)
	if role, err := b.role(ctx, req.Storage, roleName); err == nil && role != nil {
		if conn, err := b.connection(ctx, req.Storage, role); err != nil {
			return nil, err
		} else if conn != nil {
			stmts := cmp.Or(strings.Join(role.RevocationStatements, ";"), defaultRevocationStatement)
			if err := conn.exec(ctx, stmts, sqlVars(username, "", time.Time{})); err != nil {
				return nil, fmt.Errorf("dropping user %s: %w", username, err)
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if u := b.users[username]; u != nil && u.Revoked.IsZero() {
		u.Revoked = time.Now()
	}
	return nil, nil
}

// connection returns the database connection of role, or nil when its
// db_name has no connection_url (the stand-in keeps only its books).
func (b *databaseBackend) connection(ctx context.Context, s logical.Storage, role *databaseRole) (*databaseConfig, error) {
	if role.DBName == "" {
		return nil, nil
	}
	c, err := b.config(ctx, s, role.DBName)
	if err != nil || c == nil || c.ConnectionURL == "" {
		return nil, err
	}
	return c, nil
}

// DatabaseUsers returns the users created by the database engine mounted at
// path in namespace ns, in no particular order.
func (s *Server) DatabaseUsers(ns, path string) ([]DatabaseUser, error) {
	n, err := s.ensureNamespace(ns)
	if err != nil {
		return nil, err
	}
	m, _ := s.findMount(n, path+"/")
	if m == nil {
		return nil, fmt.Errorf("vaultfront: no mount at %s", path)
	}
	b, ok := m.backend.(*databaseBackend)
	if !ok {
		return nil, fmt.Errorf("vaultfront: %s is a %s mount, not database", path, m.typ)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]DatabaseUser, 0, len(b.users))
	for _, u := range b.users {
		out = append(out, *u)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
