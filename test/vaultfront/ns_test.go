package vaultfront

import (
	"io"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/api"
)

// newNamespacedServer returns a server whose root, team-a and team-b
// namespaces each have secret/who = {"ns": "ns:<name>"} and a reader policy.
func newNamespacedServer(t *testing.T) *Server {
	t.Helper()
	s := newTestServer(t)
	for _, ns := range []string{"", "team-a", "team-b"} {
		must(t, s.EnableSecrets(ns, "secret", "kv", map[string]string{"version": "1"}))
		must(t, s.PutPolicy(ns, "reader", `path "secret/*" { capabilities = ["read"] }`))
		c := newClient(t, s, s.RootToken(), ns)
		_, err := c.Logical().Write("secret/who", map[string]interface{}{"ns": "ns:" + ns})
		must(t, err)
	}
	must(t, s.EnableSecrets("team-a", "only-a", "kv", nil))
	return s
}

func TestNamespacesIsolation(t *testing.T) {
	s := newNamespacedServer(t)
	rootA := newClient(t, s, s.RootToken(), "team-a")
	tokA := createToken(t, rootA, &api.TokenCreateRequest{Policies: []string{"reader"}})

	tests := []struct {
		name   string
		token  string
		ns     string
		path   string
		want   string
		status int
	}{
		{"root reads root ns", s.RootToken(), "", "secret/who", "ns:", 0},
		{"root reads team-a", s.RootToken(), "team-a", "secret/who", "ns:team-a", 0},
		{"root reads team-b", s.RootToken(), "team-b", "secret/who", "ns:team-b", 0},
		{"team-a token in team-a", tokA, "team-a", "secret/who", "ns:team-a", 0},
		{"team-a token refused in team-b", tokA, "team-b", "secret/who", "", http.StatusForbidden},
		{"team-a token refused in root", tokA, "", "secret/who", "", http.StatusForbidden},
		{"mount of team-a absent from team-b", s.RootToken(), "team-b", "only-a/x", "", http.StatusNotFound},
		{"unknown namespace", s.RootToken(), "nope", "secret/who", "", http.StatusNotFound},
		{"path-prefixed namespace", s.RootToken(), "", "team-b/secret/who", "ns:team-b", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, s, tc.token, tc.ns)
			sec, err := c.Logical().Read(tc.path)
			if tc.status == http.StatusNotFound && err == nil {
				if sec != nil {
					t.Fatalf("want 404, got %v", sec.Data)
				}
				return
			}
			if tc.status != 0 {
				wantStatus(t, err, tc.status)
				return
			}
			if err != nil || sec == nil || sec.Data["ns"] != tc.want {
				t.Fatalf("got %v, %v; want ns=%s", sec, err, tc.want)
			}
		})
	}
}

func TestNamespacesOverHTTP(t *testing.T) {
	s := newNamespacedServer(t)
	t.Run("namespaces over HTTP", func(t *testing.T) {
		root := newClient(t, s, s.RootToken(), "")
		_, err := root.Logical().Write("sys/namespaces/team-c", nil)
		must(t, err)
		sec, err := root.Logical().List("sys/namespaces")
		must(t, err)
		keys, _ := sec.Data["keys"].([]interface{})
		if len(keys) != 3 {
			t.Errorf("keys = %v", keys)
		}
		c := newClient(t, s, s.RootToken(), "team-c")
		must(t, c.Sys().Mount("kv", &api.MountInput{Type: "kv"}))
	})

	t.Run("unknown namespace body", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, s.Addr()+"/v1/secret/who", nil)
		must(t, err)
		req.Header.Set("X-Vault-Token", s.RootToken())
		req.Header.Set("X-Vault-Namespace", "missing")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusNotFound || string(body) != `{"errors":["namespace \"missing\" not found"]}`+"\n" {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}
