package metrics

import (
	"net/http"
	"strings"
)

// VaultKind classifies a Vault API request path for metrics.
func VaultKind(method, path string) string {
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

// RoundTripper counts requests through next with count(request, status);
// status is 0 when there was no response.
type RoundTripper struct {
	Next  http.RoundTripper
	Count func(req *http.Request, status int)
}

// RoundTrip implements http.RoundTripper.
func (rt *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.Next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	rt.Count(req, status)
	return resp, err
}
