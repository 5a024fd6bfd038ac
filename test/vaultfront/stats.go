package vaultfront

import (
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
	// Faulted counts requests answered with an injected fault's Status.
	Faulted int64
	// FaultedByPath counts them per path, keyed like ByPath.
	FaultedByPath map[string]int64
}

// statsCollector is the concurrency-safe counter behind Stats.
type statsCollector struct {
	logins, reads, writes, other, faulted atomic.Int64

	mu            sync.Mutex
	byPath        map[string]int64
	faultedByPath map[string]int64
}

// newStatsCollector returns zeroed counters.
func newStatsCollector() *statsCollector {
	return &statsCollector{byPath: map[string]int64{}, faultedByPath: map[string]int64{}}
}

// recordFault counts one request answered by an injected fault.
func (c *statsCollector) recordFault(rc *reqCtx) {
	c.faulted.Add(1)
	c.mu.Lock()
	c.faultedByPath[rc.statsKey()]++
	c.mu.Unlock()
}

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
	byPath, faultedByPath := maps.Clone(c.byPath), maps.Clone(c.faultedByPath)
	c.mu.Unlock()
	return Stats{
		Logins: c.logins.Load(), Reads: c.reads.Load(), Writes: c.writes.Load(), Other: c.other.Load(),
		ByPath: byPath, Faulted: c.faulted.Load(), FaultedByPath: faultedByPath,
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
	c.faulted.Store(0)
	c.byPath = map[string]int64{}
	c.faultedByPath = map[string]int64{}
}
