package observe

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe/observetest"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportCounts(t *testing.T) {
	refused := errors.New("connection refused")
	tests := []struct {
		name       string
		next       roundTripFunc
		wantStatus int
		wantErr    error
	}{
		{"answered", func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusTooManyRequests, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		}, http.StatusTooManyRequests, nil},
		{"no response", func(*http.Request) (*http.Response, error) { return nil, refused }, 0, refused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var counted []string
			rt := Transport(tc.next, func(r *http.Request, status int) {
				counted = append(counted, r.URL.Path)
				if status != tc.wantStatus {
					t.Errorf("status %d, want %d", status, tc.wantStatus)
				}
			})
			req, _ := http.NewRequest(http.MethodGet, "http://vault.example/v1/secret/data/a", nil)
			resp, err := rt.RoundTrip(req)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (resp != nil) {
				t.Errorf("RoundTrip = %v, %v; want the next transport's answer", resp, err)
			}
			if len(counted) != 1 || counted[0] != "/v1/secret/data/a" {
				t.Errorf("counted %v, want the one request", counted)
			}
		})
	}
}

func TestOrNop(t *testing.T) {
	if _, ok := OrNop(nil).(Nop); !ok {
		t.Errorf("OrNop(nil) = %T, want Nop", OrNop(nil))
	}
	o := &struct{ Nop }{}
	if OrNop(o) != Observer(o) {
		t.Errorf("OrNop(o) did not return o")
	}
}

var _ Observer = (*observetest.Recorder)(nil)
