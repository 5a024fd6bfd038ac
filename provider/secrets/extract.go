package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// Content returns the bytes to write for obj from its Vault response:
// the value at secretKey (KV v2's inner data map first, then the top level,
// then a dotted path such as "a.b"), decoded per encoding; or, without a
// secretKey, the whole response as JSON (without the per-request ID, so the
// content only changes when the secret does).
func Content(secret *vault.Secret, obj params.Object) ([]byte, error) {
	if obj.SecretKey == "" {
		whole := *secret
		whole.RequestID = ""
		b, err := json.Marshal(&whole)
		if err != nil {
			return nil, fmt.Errorf("encoding the secret at %s as JSON failed", obj.SecretPath)
		}
		return b, nil
	}
	value, ok := lookupKey(secret.Data, obj.SecretKey)
	if !ok {
		return nil, fmt.Errorf("secretKey %q is not in the secret at %s (its keys: %s)", obj.SecretKey, obj.SecretPath, keyList(secret.Data))
	}
	raw, err := valueBytes(value)
	if err != nil {
		return nil, fmt.Errorf("secretKey %q at %s: %w", obj.SecretKey, obj.SecretPath, err)
	}
	out, err := decode(raw, obj.Encoding)
	if err != nil {
		return nil, &DecodeError{Key: obj.SecretKey, Path: obj.SecretPath, Encoding: obj.Encoding, Err: err}
	}
	return out, nil
}

// DecodeError is a value that is not in the encoding the object says: the
// SecretProviderClass, not Vault, needs fixing.
type DecodeError struct {
	Key, Path, Encoding string
	Err                 error
}

// Error names the object and the encoding only: the decoders' own errors
// quote the offending byte (encoding/hex: invalid byte: U+0058 'X'), a
// piece of the secret, and this message reaches the pod's events.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("secretKey %q at %s is not valid %s (encoding parameter): %s", e.Key, e.Path, e.Encoding, decodeProblem(e.Err))
}

// decodeProblem describes a decoding failure without any of the input.
func decodeProblem(err error) string {
	var ce base64.CorruptInputError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("an invalid character at byte %d", int64(ce))
	case errors.Is(err, hex.ErrLength):
		return "an odd number of hex digits"
	case errors.As(err, new(hex.InvalidByteError)):
		return "a character that is not a hex digit"
	}
	return "not decodable"
}

func (e *DecodeError) Unwrap() error { return e.Err }

// lookupKey finds key in a KV v2 inner data map first (as HashiCorp's
// provider does), then at the top level, then as a dotted path.
func lookupKey(data map[string]any, key string) (any, bool) {
	roots := []map[string]any{}
	if inner, ok := data["data"].(map[string]any); ok {
		roots = append(roots, inner)
	}
	roots = append(roots, data)
	for _, root := range roots {
		if v, ok := root[key]; ok {
			return v, true
		}
	}
	if !strings.Contains(key, ".") {
		return nil, false
	}
	for _, root := range roots {
		if v, ok := walk(root, strings.Split(key, ".")); ok {
			return v, true
		}
	}
	return nil, false
}

func walk(node any, parts []string) (any, bool) {
	for _, p := range parts {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		if node, ok = m[p]; !ok {
			return nil, false
		}
	}
	return node, true
}

// keyList names the keys of a secret (never values) to help fix secretKey.
func keyList(data map[string]any) string {
	if inner, ok := data["data"].(map[string]any); ok {
		data = inner
	}
	keys := slices.Sorted(maps.Keys(data))
	if len(keys) > 20 {
		keys = append(keys[:20], "…")
	}
	return "[" + strings.Join(keys, ", ") + "]"
}

func valueBytes(v any) ([]byte, error) {
	switch t := v.(type) {
	case string:
		return []byte(t), nil
	case nil:
		return nil, fmt.Errorf("the value is null")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("the value cannot be written as JSON")
	}
	return b, nil
}

func decode(b []byte, encoding string) ([]byte, error) {
	switch encoding {
	case params.EncodingBase64:
		return base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	case params.EncodingHex:
		return hex.DecodeString(strings.TrimSpace(string(b)))
	default:
		return b, nil
	}
}
