package setup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadVersionKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := strings.Repeat("k", 40)
	t.Setenv("TEST_VERSION_KEY", " "+good+"\n")
	t.Setenv("TEST_SHORT_KEY", "tiny-secret-key")
	tests := []struct {
		name      string
		path, env string
		want      string
		wantErr   string
	}{
		{"no flag", "", "", "", ""},
		{"key with a trailing newline", write("good", good+"\n"), "", good, ""},
		{"too short", write("short", "tiny-secret-key\n"), "", "", "fewer than 32"},
		{"missing file", filepath.Join(dir, "absent"), "", "", "reading --version-key-file"},
		{"from the environment", "", "TEST_VERSION_KEY", good, ""},
		{"too short in the environment", "", "TEST_SHORT_KEY", "", "--version-key-env TEST_SHORT_KEY holds 15 bytes, fewer than 32"},
		{"variable not set", "", "TEST_NO_SUCH_KEY", "", "the environment has no such variable"},
		{"both", write("both", good), "TEST_VERSION_KEY", "", "exclusive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, err := loadVersionKey(tc.path, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "tiny-secret-key") {
					t.Errorf("the error reveals the key: %v", err)
				}
				return
			}
			if err != nil || string(key) != tc.want {
				t.Fatalf("key %q, err %v; want %q", key, err, tc.want)
			}
		})
	}
}
