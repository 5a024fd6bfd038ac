package vaultfront

import (
	"context"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/api"
)

// newKVClient returns a root client of a server with kv1/ (v1), secret/
// (v2) and plain/ (kv without a version) mounted.
func newKVClient(t *testing.T) *api.Client {
	t.Helper()
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "kv1", "kv", map[string]string{"version": "1"}))
	must(t, s.EnableSecrets("", "secret", "kv", map[string]string{"version": "2"}))
	must(t, s.EnableSecrets("", "plain", "kv", nil))
	return newClient(t, s, s.RootToken(), "")
}

func TestKVWriteRead(t *testing.T) {
	c := newKVClient(t)

	tests := []struct {
		name      string
		writePath string
		write     map[string]interface{}
		readPath  string
		v2        bool
	}{
		{"kv v1", "kv1/app/db", map[string]interface{}{"password": "s3cret"}, "kv1/app/db", false},
		{"kv without version is v1", "plain/x", map[string]interface{}{"password": "p"}, "plain/x", false},
		{"kv v2 via data path", "secret/data/app/db", map[string]interface{}{"data": map[string]interface{}{"password": "v2pw"}},
			"secret/data/app/db", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Logical().Write(tc.writePath, tc.write); err != nil {
				t.Fatalf("write %s: %v", tc.writePath, err)
			}
			sec, err := c.Logical().Read(tc.readPath)
			if err != nil || sec == nil {
				t.Fatalf("read %s: %v %v", tc.readPath, sec, err)
			}
			data := sec.Data
			if tc.v2 {
				data, _ = sec.Data["data"].(map[string]interface{})
				meta, _ := sec.Data["metadata"].(map[string]interface{})
				if meta["version"] == nil {
					t.Errorf("kv v2 read has no metadata.version: %v", sec.Data)
				}
				tc.write = tc.write["data"].(map[string]interface{})
			}
			for k, v := range tc.write {
				if data[k] != v {
					t.Errorf("%s: got %v want %v (all: %v)", k, data[k], v, sec.Data)
				}
			}
		})
	}
}

func TestKVHelperListAndMisses(t *testing.T) {
	c := newKVClient(t)
	_, err := c.Logical().Write("secret/data/app/db", map[string]interface{}{"data": map[string]interface{}{"a": "b"}})
	must(t, err)

	t.Run("kv v2 helper", func(t *testing.T) {
		kv := c.KVv2("secret")
		if _, err := kv.Put(context.Background(), "helper", map[string]interface{}{"a": "1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(context.Background(), "helper", map[string]interface{}{"a": "2"}); err != nil {
			t.Fatal(err)
		}
		got, err := kv.Get(context.Background(), "helper")
		if err != nil || got.Data["a"] != "2" || got.VersionMetadata.Version != 2 {
			t.Fatalf("got %+v, %v", got, err)
		}
	})

	t.Run("missing secrets are nil (404)", func(t *testing.T) {
		for _, p := range []string{"kv1/nope", "secret/data/nope"} {
			sec, err := c.Logical().Read(p)
			if err != nil || sec != nil {
				t.Errorf("read %s: want nil, nil; got %v, %v", p, sec, err)
			}
		}
	})

	t.Run("list", func(t *testing.T) {
		sec, err := c.Logical().List("secret/metadata/app")
		if err != nil || sec == nil {
			t.Fatalf("list: %v %v", sec, err)
		}
		keys, _ := sec.Data["keys"].([]interface{})
		if len(keys) != 1 || keys[0] != "db" {
			t.Errorf("keys = %v", keys)
		}
	})

	t.Run("unknown mount 404", func(t *testing.T) {
		_, err := c.Logical().Write("nomount/x", map[string]interface{}{"a": "b"})
		wantStatus(t, err, http.StatusNotFound)
	})
}

func TestUIMountsDetectsKVVersion(t *testing.T) {
	s := newTestServer(t)
	must(t, s.EnableSecrets("", "secret", "kv", map[string]string{"version": "2"}))
	must(t, s.EnableSecrets("", "kv", "kv", map[string]string{"version": "1"}))
	must(t, s.EnableSecrets("", "pki", "pki", nil))
	must(t, s.PutPolicy("", "app", `path "secret/data/app/*" { capabilities = ["read"] }`))
	root := newClient(t, s, s.RootToken(), "")
	app := newClient(t, s, createToken(t, root, &api.TokenCreateRequest{Policies: []string{"app"}}), "")

	tests := []struct {
		name    string
		client  string
		path    string
		mount   string
		version string
		status  int
	}{
		{"v2 by root", "root", "secret/app/db", "secret/", "2", 0},
		{"v1 by root", "root", "kv/foo", "kv/", "1", 0},
		{"mount path itself", "root", "secret", "secret/", "2", 0},
		{"pki has no version", "root", "pki/issue/x", "pki/", "", 0},
		{"app token may see secret/", "app", "secret/app/db", "secret/", "2", 0},
		{"app token refused kv/", "app", "kv/foo", "", "", http.StatusForbidden},
		{"unknown mount is 403", "root", "nope/x", "", "", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := root
			if tc.client == "app" {
				c = app
			}
			sec, err := c.Logical().Read("sys/internal/ui/mounts/" + tc.path)
			if tc.status != 0 {
				wantStatus(t, err, tc.status)
				return
			}
			if err != nil || sec == nil {
				t.Fatalf("read: %v %v", sec, err)
			}
			if sec.Data["path"] != tc.mount {
				t.Errorf("path = %v, want %s", sec.Data["path"], tc.mount)
			}
			opts, _ := sec.Data["options"].(map[string]interface{})
			if v, _ := opts["version"].(string); v != tc.version {
				t.Errorf("options.version = %q, want %q (data %v)", v, tc.version, sec.Data)
			}
		})
	}
}

func TestKVv2DeletedVersionIsRaw404WithMetadata(t *testing.T) {
	c := newKVClient(t)
	kv := c.KVv2("secret")
	_, err := kv.Put(context.Background(), "gone", map[string]interface{}{"a": "1"})
	must(t, err)
	must(t, kv.Delete(context.Background(), "gone"))
	// The backend answers with a raw 404 that carries the version metadata;
	// the API client then returns the secret without an error, as with Vault.
	sec, err := c.Logical().Read("secret/data/gone")
	if err != nil || sec == nil {
		t.Fatalf("read deleted: %v, %v", sec, err)
	}
	meta, _ := sec.Data["metadata"].(map[string]interface{})
	if meta["deletion_time"] == "" || sec.Data["data"] != nil {
		t.Errorf("deleted read = %v", sec.Data)
	}
}

func TestResponseWrappingRefused(t *testing.T) {
	c := newKVClient(t)
	c.SetWrappingLookupFunc(func(string, string) string { return "5m" })
	_, err := c.Logical().Read("kv1/x")
	wantStatus(t, err, http.StatusBadRequest)
}
