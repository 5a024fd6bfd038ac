package vaultfront

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault makes matching requests slow or fail.
type Fault struct {
	// PathPrefix selects requests whose path (after /v1/, relative to the
	// namespace, or prefixed by the namespace) starts with it; "" matches all.
	PathPrefix string
	// Status, when non-zero, is returned with {"errors":["vaultfront: injected fault"]}
	// instead of handling the request.
	Status int
	// RetryAfter, when non-zero, is sent as a Retry-After header (seconds,
	// rounded up) with Status.
	RetryAfter time.Duration
	// Latency delays the request (before Status applies, or before normal
	// handling when Status is zero).
	Latency time.Duration
	// Count is how many requests the fault applies to; 0 means until
	// ClearFaults.
	Count int
	// Every, when above 1, applies the fault to every Every-th matching
	// request only (the Every-th, 2·Every-th, …).
	Every int
	// Probability, when in (0, 1), applies the fault to each matching
	// request with this probability; 0 (or 1 and above) means always.
	Probability float64
}

// errInjectedFault is the error body of an injected failure.
var errInjectedFault = errors.New("vaultfront: injected fault")

// faultSet is the list of active faults, first match wins.
type faultSet struct {
	mu     sync.Mutex
	faults []*activeFault
}

// activeFault is an injected fault, how many uses it has left and how many
// matching requests it has seen.
type activeFault struct {
	Fault
	remaining int
	seen      int
}

// fires decides whether the fault applies to the next matching request.
func (f *activeFault) fires() bool {
	f.seen++
	if f.Every > 1 && f.seen%f.Every != 0 {
		return false
	}
	if f.Probability > 0 && f.Probability < 1 && rand.Float64() >= f.Probability {
		return false
	}
	return true
}

// InjectFault adds a fault; faults are tried in the order they were added.
// A fault whose Every or Probability lets a request pass leaves it to the
// faults added after it.
func (s *Server) InjectFault(f Fault) {
	f.PathPrefix = strings.TrimPrefix(strings.TrimPrefix(f.PathPrefix, "/"), "v1/")
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.faults = append(s.faults.faults, &activeFault{Fault: f, remaining: f.Count})
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.faults = nil
}

// take returns the fault that applies to a request and consumes one use.
func (fs *faultSet) take(rc *reqCtx) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	key := rc.statsKey()
	for i, f := range fs.faults {
		if !strings.HasPrefix(rc.path, f.PathPrefix) && !strings.HasPrefix(key, f.PathPrefix) {
			continue
		}
		if !f.fires() {
			continue
		}
		if f.Count > 0 {
			f.remaining--
			if f.remaining <= 0 {
				fs.faults = append(fs.faults[:i:i], fs.faults[i+1:]...)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// apply delays or fails a request as a matching fault says. It reports
// whether it answered the request, and whether with an injected failure.
func (fs *faultSet) apply(w http.ResponseWriter, r *http.Request, rc *reqCtx, stop <-chan struct{}) (answered, failed bool) {
	f, ok := fs.take(rc)
	if !ok {
		return false, false
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true, false
		case <-stop:
			t.Stop()
			respondError(w, http.StatusServiceUnavailable, errors.New("vaultfront: server closing"))
			return true, false
		}
	}
	if f.Status == 0 {
		return false, false
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	respondError(w, f.Status, errInjectedFault)
	return true, true
}
