package vaultclient

import (
	"net/http"
	"strings"
)

// requestKind classifies a request to Vault's API for metrics.
func requestKind(method, path string) string {
	p := strings.TrimPrefix(path, "/v1/")
	switch {
	case strings.HasPrefix(p, "auth/") && strings.HasSuffix(p, "/login"):
		return "login"
	case p == "auth/token/renew-self":
		return "renew"
	case p == "auth/token/revoke-self":
		return "revoke"
	case strings.HasPrefix(p, "sys/internal/ui/mounts/"):
		return "mount_lookup"
	case method == http.MethodGet:
		return "read"
	case method == http.MethodPut || method == http.MethodPost:
		return "write"
	}
	return "other"
}
