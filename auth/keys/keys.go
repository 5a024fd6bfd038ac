// Package keys builds the keys of the provider's caches and coalescing
// groups: one way to join the parts that choose an entry, so that no two
// different sets of parts make one key (each part is prefixed by its
// length) and a key never holds a secret (callers pass hashes of tokens).
package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Join returns the key of parts.
func Join(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p) + 4
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range parts {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// Hash stands for a secret (a token) in a key.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:16])
}
