package statefile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTripAndRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	key := []byte(strings.Repeat("k", 40))
	f, err := Open(path, key)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Load(); err != nil || got != nil {
		t.Fatalf("no file: %q, %v", got, err)
	}
	secret := []byte(`{"token":"hvs.secret-token","password":"pw"}`)
	if err := f.Save(secret); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("hvs.secret-token")) || bytes.Contains(raw, []byte("pw")) {
		t.Fatal("the file holds the plaintext")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if got, err := f.Load(); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Load = %q, %v", got, err)
	}
	other, _ := Open(path, []byte(strings.Repeat("x", 40)))
	if _, err := other.Load(); err == nil {
		t.Error("opened with another key")
	}
	raw[len(raw)-1] ^= 1
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Load(); err == nil {
		t.Error("an altered file opened")
	}
	if _, err := Open(path, nil); err == nil {
		t.Error("opened without a key")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the directory: %v", entries)
	}
}
