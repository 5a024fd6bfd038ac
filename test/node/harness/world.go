package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// WorldInfo is what the world process reports (test/cmd/world's Info).
type WorldInfo struct {
	VaultAddr     string `json:"vaultAddr"`
	RootToken     string `json:"rootToken"`
	IMDSURL       string `json:"imdsURL"`
	NMIURL        string `json:"nmiURL"`
	AuthorityURL  string `json:"authorityURL"`
	ProxyURL      string `json:"proxyURL"`
	TenantID      string `json:"tenantID"`
	IssuerURL     string `json:"issuerURL"`
	CAFile        string `json:"caFile"`
	ControlURL    string `json:"controlURL"`
	AzureResource string `json:"azureResource"`
	Postgres      bool   `json:"postgres"`
	VaultTLSAddr  string `json:"vaultTLSAddr"`
	VaultCAPEM    string `json:"vaultCAPEM"`
	// The world's AKS token proxy and its CA.
	TokenProxyURL   string `json:"tokenProxyURL"`
	TokenProxyCAPEM string `json:"tokenProxyCAPEM"`
}

// World is the running test world: Vault front, Azure emulator, proxy.
type World struct {
	Info WorldInfo
	proc *proc
	http *http.Client
}

// Login is one login the Vault front saw (test/cmd/world's Login).
type Login struct {
	Identity string `json:"identity"`
	Issuer   string `json:"issuer"`
}

// startWorld runs the world with this cluster's service-account signing key
// and the real kubernetes auth plugin, and waits for its addresses.
func (c *Cluster) startWorld() error {
	infoFile := c.path("world", "info.json")
	tmp := filepath.Join(c.Dir, "world", "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	// The world also ends when its standard input does (startProc keeps a
	// pipe open): it cannot outlive the harness.
	p, err := c.startProc("world", c.bin("world"), []string{
		"-signing-key=" + c.saKeyFile, "-real-kubernetes-auth", "-postgres", "-info=" + infoFile,
	}, []string{"TMPDIR=" + tmp})
	if err != nil {
		return err
	}
	w := &World{proc: p, http: &http.Client{Timeout: 30 * time.Second}}
	c.World = w
	return waitProc(p, 60*time.Second, "the world's info file", func() (bool, error) {
		data, err := os.ReadFile(infoFile)
		if err != nil {
			return false, nil
		}
		return true, json.Unmarshal(data, &w.Info)
	})
}

// PostgresLogin logs in to the world's PostgreSQL server as user with
// password and runs a query, as an app does with a leased credential; it
// returns nil when that worked, else the server's refusal.
func (w *World) PostgresLogin(ctx context.Context, user, password string) error {
	var res struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := w.control(ctx, http.MethodPost, "/postgres/login", map[string]string{"user": user, "password": password}, &res); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("PostgreSQL refused %s: %s", user, res.Error)
	}
	return nil
}

// VaultWrite writes data to a Vault path with the root token.
func (w *World) VaultWrite(ctx context.Context, path string, data map[string]any) error {
	_, err := w.vault(ctx, http.MethodPut, path, data)
	return err
}

func (w *World) vault(ctx context.Context, method, path string, data map[string]any) ([]byte, error) {
	var body io.Reader
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.Info.VaultAddr+"/v1/"+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", w.Info.RootToken)
	resp, err := w.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vault %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("vault %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// Logins returns every login the Vault front has seen, in order.
func (w *World) Logins(ctx context.Context) ([]Login, error) {
	var out []Login
	return out, w.control(ctx, http.MethodGet, "/logins", nil, &out)
}

// Refused returns the connections to real hosts that the proxy refused.
func (w *World) Refused(ctx context.Context) ([]string, error) {
	var out []string
	return out, w.control(ctx, http.MethodGet, "/refused", nil, &out)
}

// WorkloadIdentity is a managed identity federated to one service account.
type WorkloadIdentity struct {
	Name           string `json:"name"`
	ClientID       string `json:"clientID"`
	ObjectID       string `json:"objectID"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// AddWorkloadIdentity adds an identity and its federated credential to the
// Azure emulator.
func (w *World) AddWorkloadIdentity(ctx context.Context, wi WorkloadIdentity) error {
	return w.control(ctx, http.MethodPost, "/workload-identity", wi, nil)
}

func (w *World) control(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.Info.ControlURL+path, body)
	if err != nil {
		return err
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return fmt.Errorf("world %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("world %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// configureVaultKubernetesAuth points Vault's auth/kubernetes (the real
// plugin) at this apiserver with a reviewer token, as an operator would.
func (c *Cluster) configureVaultKubernetesAuth() error {
	token, _, err := c.serviceAccountToken(reviewerServiceAccount, 24*time.Hour)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.World.VaultWrite(ctx, "auth/kubernetes/config", map[string]any{
		"kubernetes_host":      c.APIServerURL,
		"kubernetes_ca_cert":   string(c.pki.CAPEM()),
		"token_reviewer_jwt":   token,
		"disable_local_ca_jwt": true,
	}); err != nil {
		return err
	}
	// The token proxy of identity bindings authorizes as AKS's does: a
	// SubjectAccessReview at this apiserver (the reviewer may create them).
	return c.World.control(ctx, http.MethodPost, "/token-proxy/rbac", map[string]string{
		"host": c.APIServerURL, "caPEM": string(c.pki.CAPEM()), "token": token}, nil)
}

// IdentityBinding is a managed identity bound to the cluster (the world's
// IdentityBinding).
type IdentityBinding struct {
	Name     string `json:"name"`
	ClientID string `json:"clientID"`
	ObjectID string `json:"objectID"`
}

// AddIdentityBinding adds a managed identity bound to this cluster.
func (w *World) AddIdentityBinding(ctx context.Context, ib IdentityBinding) error {
	return w.control(ctx, http.MethodPost, "/identity-binding", ib, nil)
}

// VaultStats are the Vault front's request counters (vaultfront.Stats).
type VaultStats struct {
	Logins int64            `json:"Logins"`
	Reads  int64            `json:"Reads"`
	ByPath map[string]int64 `json:"ByPath"`
}

// Stats returns the Vault front's request counters.
func (w *World) Stats(ctx context.Context) (VaultStats, error) {
	var out VaultStats
	return out, w.control(ctx, http.MethodGet, "/stats", nil, &out)
}
