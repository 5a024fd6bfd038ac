package azureemu

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Observed is one request the emulator answered on its listeners.
type Observed struct {
	Method, Path string
	Start, End   time.Time
}

// SetObserver calls f after every request answered on the emulator's
// listeners; nil stops observing. f must be safe for concurrent use.
func (e *Emulator) SetObserver(f func(Observed)) {
	if f == nil {
		e.observer.Store(nil)
		return
	}
	e.observer.Store(&f)
}

type observerSlot = atomic.Pointer[func(Observed)]

func (e *Emulator) observed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		if f := e.observer.Load(); f != nil {
			(*f)(Observed{Method: r.Method, Path: r.URL.Path, Start: start, End: time.Now()})
		}
	})
}
