// Package observetest records what an observe.Observer is told, for tests.
package observetest

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// Recorder is an observe.Observer that records each event as a line of
// words: "mount ok", "vault read 429", "azure imds 200", "cache secret hit",
// "dynamic issue". It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *Recorder) ObserveMount(result string, _ time.Duration) { r.add("mount", result) }
func (r *Recorder) VaultRequest(kind string, status int)        { r.add("vault", kind, strconv.Itoa(status)) }
func (r *Recorder) AzureRequest(endpoint string, status int) {
	r.add("azure", endpoint, strconv.Itoa(status))
}
func (r *Recorder) DynamicEvent(event string) { r.add("dynamic", event) }

func (r *Recorder) CacheLookup(cache string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	r.add("cache", cache, result)
}

func (r *Recorder) add(words ...string) {
	r.mu.Lock()
	r.events = append(r.events, strings.Join(words, " "))
	r.mu.Unlock()
}

// Events returns, in order, the events of one kind (mount, vault, azure,
// cache, dynamic) without the kind: Events("vault") = ["read 429", "read 200"].
func (r *Recorder) Events(kind string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if rest, ok := strings.CutPrefix(e, kind+" "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// Count returns how often event ("cache secret hit") was recorded.
func (r *Recorder) Count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e == event {
			n++
		}
	}
	return n
}
