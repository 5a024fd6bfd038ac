package vaultclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// TestHostileTLSPaths: devices, FIFOs, directories, huge files, missing
// paths and files that are not PEM are refused at once, with the same
// message whatever the reason, naming the parameter; nothing is read past
// the bound.
func TestHostileTLSPaths(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.pem")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil { // sparse: 64 MiB of zeros
		t.Fatal(err)
	}
	f.Close()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	var messages []string
	for _, path := range []string{"/dev/zero", "/dev/urandom", fifo, dir, huge, filepath.Join(dir, "absent"), text} {
		start := time.Now()
		_, err := NewPool(time.Second, nil).Get("https://vault.example:8200", params.TLS{CACertPath: path})
		var pe *params.Error
		if !errors.As(err, &pe) || pe.Parameter != "vaultCACertPath" {
			t.Fatalf("%s: %v, want an error naming vaultCACertPath", path, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: refused after %s", path, d)
		}
		messages = append(messages, strings.ReplaceAll(pe.Problem, path, "PATH"))
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("messages differ by reason (they would tell which paths exist): %q vs %q", m, messages[0])
		}
	}
}
