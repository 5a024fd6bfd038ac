// Package statefile keeps what the provider must not lose in a restart —
// the dynamic secrets kept for running pods, with the Vault tokens that
// renew them — in one file on the node, encrypted and authenticated with
// AES-256-GCM under a key derived from the object-version key (the chart's
// Secret, the same on every node), written atomically, owner-only.
package statefile

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// MaxBytes bounds the file: the store's bounded secrets fit far below it.
const MaxBytes = 64 << 20

// magic starts the file and names its format.
var magic = []byte("VACPSTATE1\n")

// File is the encrypted state file at a path.
type File struct {
	path string
	aead cipher.AEAD
}

// Open returns the state file at path, keyed by the object-version key.
func Open(path string, versionKey []byte) (*File, error) {
	if len(versionKey) == 0 {
		return nil, errors.New("the state file needs the object-version key (--version-key-file): it is encrypted with a key derived from it")
	}
	key, err := hkdf.Key(sha256.New, versionKey, nil, "vault-azure-csi-provider dynamic state v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &File{path: path, aead: aead}, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Load returns the plaintext, or nil when there is no file yet. A file that
// is too large, of another format or key, or altered is an error.
func (f *File) Load() ([]byte, error) {
	fh, err := os.Open(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the state file: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the state file: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > MaxBytes {
		return nil, fmt.Errorf("the state file %s is not a regular file of at most %d bytes", f.path, MaxBytes)
	}
	raw, err := io.ReadAll(io.LimitReader(fh, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the state file: %w", err)
	}
	ns := f.aead.NonceSize()
	if !bytes.HasPrefix(raw, magic) || len(raw) < len(magic)+ns {
		return nil, fmt.Errorf("the state file %s is not one this provider wrote", f.path)
	}
	raw = raw[len(magic):]
	plain, err := f.aead.Open(nil, raw[:ns], raw[ns:], magic)
	if err != nil {
		return nil, fmt.Errorf("the state file %s does not open with this object-version key (another key, or altered)", f.path)
	}
	return plain, nil
}

// Save replaces the file with plain, encrypted: a reader sees the old file
// or the new one, never half of either.
func (f *File) Save(plain []byte) error {
	if len(plain) > MaxBytes-1024 {
		return fmt.Errorf("the state is %d bytes, more than the state file's %d", len(plain), MaxBytes)
	}
	nonce := make([]byte, f.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	out := append(append(append([]byte{}, magic...), nonce...), f.aead.Seal(nil, nonce, plain, magic)...)
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("writing the state file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".*")
	if err != nil {
		return fmt.Errorf("writing the state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; removes a failed write
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("writing the state file: %w", err)
	}
	return nil
}
