package world

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
)

// HostileHandler answers a request to a hostile Vault until stop closes.
type HostileHandler func(w http.ResponseWriter, r *http.Request, stop <-chan struct{})

// HostileVault serves a Vault that a namespace user's class may point at:
// it accepts every login (with login) and answers every other request with
// serve. Close ends the handlers, then the server.
func HostileVault(login bool, serve HostileHandler) (url string, stopAll func()) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if login && strings.HasSuffix(r.URL.Path, "/login") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"auth":{"client_token":"hvs.evil","lease_duration":3600,"renewable":true}}`)
			return
		}
		serve(w, r, stop)
	}))
	return srv.URL, func() { close(stop); srv.Close() }
}

// EndlessBody answers 200 with a JSON body that never ends.
func EndlessBody(w http.ResponseWriter, _ *http.Request, stop <-chan struct{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"data":{"k":"`))
	chunk := []byte(strings.Repeat("A", 64<<10))
	for {
		select {
		case <-stop:
			return
		default:
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// Hang answers nothing until stop or the client gives up.
func Hang(_ http.ResponseWriter, r *http.Request, stop <-chan struct{}) {
	select {
	case <-stop:
	case <-r.Context().Done():
	}
}
