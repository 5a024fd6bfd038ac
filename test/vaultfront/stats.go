package vaultfront

import (
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts the requests the server received (including refused, sealed
// and faulted ones).
type Stats struct {
	// Logins counts auth/<mount>/login requests.
	Logins int64
	// Reads counts GET requests on secrets mounts.
	Reads int64
	// Writes counts PUT and POST requests on secrets mounts (dynamic secret
	// issuing counts here).
	Writes int64
	// Other counts everything else: sys/, auth/token/, auth configuration,
	// DELETE, LIST.
	Other int64
	// ByPath counts requests per path, relative to the namespace and
	// prefixed by it outside the root namespace ("ns1/secret/data/x").
	ByPath map[string]int64
}

// statsCollector is the concurrency-safe counter behind Stats.
type statsCollector struct {
	logins, reads, writes, other atomic.Int64

	mu     sync.Mutex
	byPath map[string]int64
}

// newStatsCollector returns zeroed counters.
func newStatsCollector() *statsCollector { return &statsCollector{byPath: map[string]int64{}} }

// record counts one request.
func (c *statsCollector) record(method string, rc *reqCtx) {
	p := rc.path
	switch {
	case strings.HasPrefix(p, "auth/") && strings.HasSuffix(strings.TrimSuffix(p, "/"), "/login") &&
		p != "auth/token/login":
		c.logins.Add(1)
	case p == "sys" || strings.HasPrefix(p, "sys/") || strings.HasPrefix(p, "auth/"):
		c.other.Add(1)
	case method == http.MethodGet:
		c.reads.Add(1)
	case method == http.MethodPut || method == http.MethodPost:
		c.writes.Add(1)
	default:
		c.other.Add(1)
	}
	key := rc.statsKey()
	c.mu.Lock()
	c.byPath[key]++
	c.mu.Unlock()
}

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	c := s.stats
	c.mu.Lock()
	byPath := maps.Clone(c.byPath)
	c.mu.Unlock()
	return Stats{
		Logins: c.logins.Load(), Reads: c.reads.Load(), Writes: c.writes.Load(), Other: c.other.Load(),
		ByPath: byPath,
	}
}

// ResetStats sets every counter back to zero.
func (s *Server) ResetStats() {
	c := s.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logins.Store(0)
	c.reads.Store(0)
	c.writes.Store(0)
	c.other.Store(0)
	c.byPath = map[string]int64{}
}

// Fault makes matching requests slow or fail.
type Fault struct {
	// PathPrefix selects requests whose path (after /v1/, relative to the
	// namespace, or prefixed by the namespace) starts with it; "" matches all.
	PathPrefix string
	// Status, when non-zero, is returned with {"errors":["vaultfront: injected fault"]}
	// instead of handling the request.
	Status int
	// Latency delays the request (before Status applies, or before normal
	// handling when Status is zero).
	Latency time.Duration
	// Count is how many requests the fault applies to; 0 means until
	// ClearFaults.
	Count int
}

// errInjectedFault is the error body of an injected failure.
var errInjectedFault = errors.New("vaultfront: injected fault")

// faultSet is the list of active faults, first match wins.
type faultSet struct {
	mu     sync.Mutex
	faults []*activeFault
}

// activeFault is an injected fault and how many uses it has left.
type activeFault struct {
	Fault
	remaining int
}

// InjectFault adds a fault; faults are tried in the order they were added.
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
// whether it answered the request.
func (fs *faultSet) apply(w http.ResponseWriter, r *http.Request, rc *reqCtx, stop <-chan struct{}) bool {
	f, ok := fs.take(rc)
	if !ok {
		return false
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		case <-stop:
			t.Stop()
			respondError(w, http.StatusServiceUnavailable, errors.New("vaultfront: server closing"))
			return true
		}
	}
	if f.Status == 0 {
		return false
	}
	respondError(w, f.Status, errInjectedFault)
	return true
}
