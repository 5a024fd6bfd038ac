package azureemu

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Endpoint kinds used by Counts and InjectFault.
const (
	KindIMDSToken         = "imds-token"
	KindIMDSInstance      = "imds-instance"
	KindEntraToken        = "entra-token"
	KindOIDCDiscovery     = "oidc-discovery"    // v1: /<tenant>/.well-known/openid-configuration (Vault)
	KindOIDCDiscoveryV2   = "oidc-discovery-v2" // v2: /<tenant>/v2.0/.well-known/openid-configuration (MSAL)
	KindJWKS              = "jwks"
	KindInstanceDiscovery = "instance-discovery"
	KindNMI               = "nmi"
	KindARM               = "arm"
	KindUnknown           = "unknown" // requests no endpoint matched
)

// Fault describes a failure injected into one endpoint kind.
type Fault struct {
	// Status, when non-zero, is returned instead of the real response.
	Status int
	// RetryAfter, when non-zero, is sent as a Retry-After header (seconds,
	// rounded up) with the fault status.
	RetryAfter time.Duration
	// Latency delays the response (faulted or real).
	Latency time.Duration
	// Count is how many requests the fault applies to; 0 means until cleared.
	Count int
	// Body is the fault response body; a JSON error is used when empty.
	Body string
}

type faultState struct {
	f         Fault
	remaining int // -1: unlimited
}

// stats holds request counters and injected faults.
type stats struct {
	mu     sync.Mutex
	counts map[string]int64
	faults map[string]*faultState
}

func newStats() stats {
	return stats{counts: map[string]int64{}, faults: map[string]*faultState{}}
}

// Counts returns the number of requests per endpoint kind (see the Kind
// constants), including requests answered by an injected fault.
func (e *Emulator) Counts() map[string]int64 {
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	out := make(map[string]int64, len(e.stats.counts))
	for k, v := range e.stats.counts {
		out[k] = v
	}
	return out
}

// ResetCounts zeroes all counters.
func (e *Emulator) ResetCounts() {
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	e.stats.counts = map[string]int64{}
}

// InjectFault makes the next f.Count requests (all, if 0) to the endpoint
// kind fail or slow down as f describes. It replaces any fault on that kind.
func (e *Emulator) InjectFault(endpoint string, f Fault) {
	remaining := f.Count
	if remaining <= 0 {
		remaining = -1
	}
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	e.stats.faults[endpoint] = &faultState{f: f, remaining: remaining}
}

// ClearFaults removes every injected fault.
func (e *Emulator) ClearFaults() {
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	e.stats.faults = map[string]*faultState{}
}

// hit counts a request and returns the fault to apply, if any.
func (s *stats) hit(kind string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[kind]++
	st, ok := s.faults[kind]
	if !ok {
		return Fault{}, false
	}
	if st.remaining > 0 {
		st.remaining--
		if st.remaining == 0 {
			delete(s.faults, kind)
		}
	}
	return st.f, true
}

// instrument wraps an endpoint handler with counting and fault injection.
func (e *Emulator) instrument(kind string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, ok := e.stats.hit(kind)
		if ok && f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if !ok || f.Status == 0 {
			h(w, r)
			return
		}
		if f.RetryAfter > 0 {
			secs := int((f.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		body := f.Body
		if body == "" {
			body = `{"error":"injected_fault","error_description":"fault injected by azureemu: ` + http.StatusText(f.Status) + `"}`
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(body))
	}
}
