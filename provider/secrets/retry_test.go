package secrets

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
)

var fastRetry = WithRetry(retry.Backoff{Retries: 3, Base: time.Millisecond, Max: 5 * time.Millisecond})

// answers replies with the given statuses in turn, then with the secret.
func answers(statuses ...int) (func(w http.ResponseWriter, r *http.Request, body map[string]any), *atomic.Int32) {
	n := &atomic.Int32{}
	ok := kv1Data(map[string]any{"password": "pw"})
	return func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		i := int(n.Add(1)) - 1
		if i < len(statuses) {
			vaultErr(w, statuses[i], http.StatusText(statuses[i]))
			return
		}
		ok(w, r, body)
	}, n
}

func TestReadRetries(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		statuses   []int
		wantCalls  int32
		wantStatus int // 0: success
		wantNote   string
	}{
		{"read 500 is transient", "GET", []int{500, 500}, 3, 0, ""},
		{"sealed, then unsealed", "GET", []int{503}, 2, 0, ""},
		{"rate limited", "GET", []int{429, 429, 429}, 4, 0, ""},
		{"proxy errors", "GET", []int{502, 504}, 3, 0, ""},
		{"sealed for good", "GET", []int{503, 503, 503, 503, 503}, 4, 503, "tried 4 times"},
		{"not found is final", "GET", []int{404}, 1, 404, ""},
		{"denied is final", "GET", []int{403}, 1, 403, ""},
		{"bad request is final", "GET", []int{400}, 1, 400, ""},
		{"write 500 may have had effects", "POST", []int{500}, 1, 500, ""},
		{"write 503 was not served", "POST", []int{503}, 2, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fv := newFakeVault(t)
			h, calls := answers(tc.statuses...)
			fv.secrets["kv1/db"] = h
			req := Request{Method: tc.method, Path: "kv1/db"}
			if tc.method != "GET" {
				req.Args = map[string]any{"x": "y"}
			}
			s, err := NewReader(fastRetry).Read(context.Background(), fv.client(t, ""), Via{}, req)
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("Vault saw %d requests, want %d", got, tc.wantCalls)
			}
			if tc.wantStatus == 0 {
				if err != nil || s.Data["password"] != "pw" {
					t.Fatalf("Read = %v, %v; want the secret", s, err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || se.Status != tc.wantStatus {
				t.Fatalf("err = %v, want a *secrets.Error with HTTP %d", err, tc.wantStatus)
			}
			if note := retry.Note(err); !strings.Contains(err.Error(), tc.wantNote) || (tc.wantNote == "") != (note == "") {
				t.Errorf("err = %v, want a retry note %q", err, tc.wantNote)
			}
		})
	}
}

func TestReadRetriesDisabled(t *testing.T) {
	fv := newFakeVault(t)
	h, calls := answers(503)
	fv.secrets["kv1/db"] = h
	_, err := NewReader(WithRetry(retry.Backoff{})).Read(context.Background(), fv.client(t, ""), Via{}, Request{Method: "GET", Path: "kv1/db"})
	if err == nil || calls.Load() != 1 {
		t.Errorf("with retries off: err = %v after %d requests, want a failure after 1", err, calls.Load())
	}
}

func TestReadMountLookupTransientFailure(t *testing.T) {
	fv := newFakeVault(t)
	fv.secrets["secret/data/db"] = kvData(map[string]any{"password": "pw"})
	var lookups atomic.Int32
	mounts := fv.srv.Config.Handler
	fv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts/") && lookups.Add(1) <= 5 {
			vaultErr(w, http.StatusServiceUnavailable, "Vault is sealed")
			return
		}
		mounts.ServeHTTP(w, r)
	})
	r := NewReader(fastRetry)
	// Sealed through every retry: fail, naming the object's path, rather than
	// guess the API path (secret/db on KV v2 would be a wrong 404).
	_, err := r.Read(context.Background(), fv.client(t, ""), Via{}, Request{Method: "GET", Path: "secret/db"})
	var se *Error
	if !errors.As(err, &se) || se.Status != 503 || se.Path != "secret/db" || !strings.Contains(err.Error(), "finding the KV version") {
		t.Fatalf("err = %v, want HTTP 503 for secret/db while finding the mount", err)
	}
	if n := fv.count("", "/v1/secret/db") + fv.count("", "/v1/secret/data/db"); n != 0 {
		t.Errorf("read a guessed path %d times while the mount was unknown", n)
	}
	// Sealed once more, then unsealed: the retry finds the mount.
	s, err := r.Read(context.Background(), fv.client(t, ""), Via{}, Request{Method: "GET", Path: "secret/db"})
	if err != nil || s.Data["data"].(map[string]any)["password"] != "pw" {
		t.Fatalf("Read after unseal = %v, %v", s, err)
	}
}

func TestReadSlowVaultAnswersBeforeTheDeadline(t *testing.T) {
	fv := newFakeVault(t)
	release := make(chan struct{})
	defer close(release)
	fv.secrets["kv1/slow"] = func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_, err := NewReader().Read(ctx, fv.client(t, ""), Via{}, Request{Method: "GET", Path: "kv1/slow"})
	if ctx.Err() != nil {
		t.Fatalf("Read returned after the caller's deadline: no time left to explain (%v)", err)
	}
	var se *Error
	if !errors.As(err, &se) || se.Path != "kv1/slow" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a *secrets.Error for kv1/slow that is a deadline error", err)
	}
	if !strings.Contains(err.Error(), "deadline") {
		t.Errorf("err = %v, want it to say the deadline ran out", err)
	}
}
