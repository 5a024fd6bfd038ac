// Package observe is how the provider's parts tell one Observer what they
// did, for metrics: Mounts, HTTP requests to Vault and to Azure, cache
// lookups and the events of kept dynamic secrets. provider/metrics implements
// the Observer; auth and provider report to it without knowing it. The
// package also holds the one transport that counts HTTP requests.
package observe

import (
	"net/http"
	"time"
)

// Observer is told of what the provider does. Implementations must be safe
// for concurrent use and quick: they are called on the Mount path.
type Observer interface {
	// ObserveMount: one Mount, by result ("ok" or the gRPC code of the
	// failure) and duration.
	ObserveMount(result string, d time.Duration)
	// VaultRequest: one HTTP request to Vault, by kind (login, read, write,
	// renew, revoke, mount_lookup, other) and status (0: no response).
	VaultRequest(kind string, status int)
	// AzureRequest: one HTTP request to an Azure identity endpoint (entra,
	// imds, imds_instance, nmi) and its status (0: no response).
	AzureRequest(endpoint string, status int)
	// CacheLookup: a lookup in a cache (CacheVaultToken, CacheSecret) hit
	// or missed.
	CacheLookup(cache string, hit bool)
	// DynamicEvent: an event of a kept dynamic secret (reuse, issue, renew,
	// renew_failed, revoke, revoke_failed).
	DynamicEvent(event string)
}

// The caches CacheLookup names.
const (
	CacheVaultToken = "vault_token"
	CacheSecret     = "secret"
)

// Nop observes nothing. Embed it to observe only some events.
type Nop struct{}

func (Nop) ObserveMount(string, time.Duration) {}
func (Nop) VaultRequest(string, int)           {}
func (Nop) AzureRequest(string, int)           {}
func (Nop) CacheLookup(string, bool)           {}
func (Nop) DynamicEvent(string)                {}

// OrNop returns o, or Nop when o is nil.
func OrNop(o Observer) Observer {
	if o == nil {
		return Nop{}
	}
	return o
}

// Transport returns a RoundTripper that sends each request through next and
// then calls count with the request and the response's status (0 when there
// was no response).
func Transport(next http.RoundTripper, count func(req *http.Request, status int)) http.RoundTripper {
	return &countingTransport{next: next, count: count}
}

type countingTransport struct {
	next  http.RoundTripper
	count func(req *http.Request, status int)
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.count(req, status)
	return resp, err
}
