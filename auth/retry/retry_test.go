package retry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

var errTransient = errors.New("transient")

// recorder is a Backoff sleep that records the waits instead of sleeping.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func isTransient(err error) bool { return errors.Is(err, errTransient) }

// failing returns an op that fails with the given errors in turn, then succeeds.
func failing(errs ...error) (op func(context.Context) error, calls *int) {
	n := 0
	return func(context.Context) error {
		n++
		if n <= len(errs) {
			return errs[n-1]
		}
		return nil
	}, &n
}

func TestBackoffDo(t *testing.T) {
	permanent := errors.New("permanent")
	tests := []struct {
		name      string
		retries   int
		errs      []error
		wantCalls int
		wantErr   error // nil: success
		wantNote  string
	}{
		{"success at once", 3, nil, 1, nil, ""},
		{"succeeds on the third attempt", 3, []error{errTransient, errTransient}, 3, nil, ""},
		{"permanent failure is not retried", 3, []error{permanent}, 1, permanent, ""},
		{"transient then permanent", 3, []error{errTransient, permanent}, 2, permanent, ""},
		{"retries used up", 2, []error{errTransient, errTransient, errTransient, errTransient}, 3, errTransient, "tried 3 times"},
		{"retries disabled", 0, []error{errTransient}, 1, errTransient, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			b := Backoff{Retries: tc.retries, sleep: rec.sleep}
			op, calls := failing(tc.errs...)
			err := b.Do(context.Background(), isTransient, op)
			if *calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", *calls, tc.wantCalls)
			}
			if len(rec.waits) != tc.wantCalls-1 {
				t.Errorf("waited %d times, want %d (between attempts only)", len(rec.waits), tc.wantCalls-1)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want it to wrap %v", err, tc.wantErr)
			}
			if got := Note(err); (tc.wantNote == "") != (got == "") || !strings.Contains(got, tc.wantNote) {
				t.Errorf("retry note = %q, want one containing %q", got, tc.wantNote)
			}
		})
	}
}

func TestBackoffWaitsGrowWithJitterAndCap(t *testing.T) {
	rec := &recorder{}
	b := Backoff{Retries: 6, Base: 100 * time.Millisecond, Max: 800 * time.Millisecond, sleep: rec.sleep}
	errs := make([]error, 7)
	for i := range errs {
		errs[i] = errTransient
	}
	op, _ := failing(errs...)
	_ = b.Do(context.Background(), isTransient, op)
	bounds := []time.Duration{100, 200, 400, 800, 800, 800}
	if len(rec.waits) != len(bounds) {
		t.Fatalf("waits = %v, want %d", rec.waits, len(bounds))
	}
	for i, w := range rec.waits {
		bound := bounds[i] * time.Millisecond
		if w < bound/2 || w > bound {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, w, bound/2, bound)
		}
	}
}

func TestBackoffJitterVaries(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		rec := &recorder{}
		op, _ := failing(errTransient)
		_ = Backoff{Retries: 1, Base: time.Second, sleep: rec.sleep}.Do(context.Background(), isTransient, op)
		seen[rec.waits[0]] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 first waits took only %d distinct values: no jitter", len(seen))
	}
}

// retryAfterOp fails like a server answering 429 with Retry-After: value.
func retryAfterOp(t *testing.T, value string) func(context.Context) error {
	after, ok := ParseRetryAfter(value, time.Now())
	if !ok {
		t.Fatalf("bad Retry-After %q", value)
	}
	return func(ctx context.Context) error {
		return fmt.Errorf("request: %w", &AfterError{After: after, Err: errTransient})
	}
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	rec := &recorder{}
	b := Backoff{Retries: 1, sleep: rec.sleep}
	err := b.Do(context.Background(), isTransient, retryAfterOp(t, "3"))
	if len(rec.waits) != 1 || rec.waits[0] < 3*time.Second {
		t.Fatalf("waits = %v, want one of at least the 3s the server asked for", rec.waits)
	}
	if !errors.Is(err, errTransient) || !strings.Contains(err.Error(), "tried 2 times") {
		t.Errorf("err = %v", err)
	}
}

func TestBackoffStopsBeforeTheDeadline(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		timeout    time.Duration
		maxAfter   time.Duration
		reason     string
	}{
		{"retry-after beyond the deadline", "10", 2 * time.Second, 0, "would be after the mount's deadline"},
		{"retry-after beyond the policy", "120", time.Hour, 30 * time.Second, "asked to retry after 2m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			rec := &recorder{}
			b := Backoff{Retries: 3, MaxRetryAfter: tc.maxAfter, sleep: rec.sleep}
			err := b.Do(ctx, isTransient, retryAfterOp(t, tc.retryAfter))
			if len(rec.waits) != 0 {
				t.Errorf("waited %v, want no wait at all", rec.waits)
			}
			var re *Error
			if !errors.As(err, &re) || re.Attempts != 1 || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want an Error after 1 attempt saying %q", err, tc.reason)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a server's answer was turned into a deadline error: %v", err)
			}
		})
	}
}

func TestBackoffAttemptEndsBeforeTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var attemptDeadline time.Time
	err := Backoff{Retries: 3, Reserve: 300 * time.Millisecond}.Do(ctx, func(error) bool { return true }, func(actx context.Context) error {
		attemptDeadline, _ = actx.Deadline()
		<-actx.Done() // a server that never answers
		return fmt.Errorf("request: %w", actx.Err())
	})
	if ctx.Err() != nil {
		t.Fatalf("Do returned only after the caller's deadline")
	}
	if lead := deadline.Sub(attemptDeadline); lead < 90*time.Millisecond || lead > 110*time.Millisecond {
		t.Errorf("attempt ended %v before the deadline, want a tenth of the time left (100ms)", lead)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer in the time the mount's deadline leaves") {
		t.Errorf("err = %v, want a deadline error that says why", err)
	}
}

func TestBackoffCancelledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	time.AfterFunc(50*time.Millisecond, cancel)
	err := Backoff{Retries: 3, Base: 10 * time.Second, Max: 10 * time.Second}.Do(ctx, isTransient, func(context.Context) error { return errTransient })
	if time.Since(start) > 2*time.Second {
		t.Errorf("Do kept waiting after the context was cancelled")
	}
	if !errors.Is(err, errTransient) {
		t.Errorf("err = %v, want the last failure", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tc := range tests {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAfter(t *testing.T) {
	wrapped := fmt.Errorf("request: %w", &AfterError{After: 5 * time.Second, Err: &vault.ResponseError{StatusCode: 429}})
	if got := After(wrapped); got != 5*time.Second {
		t.Errorf("After = %v, want the 5s carried in the chain", got)
	}
	if got := After(errTransient); got != 0 {
		t.Errorf("After of an error without Retry-After = %v, want 0", got)
	}
	if !VaultRetryable(context.Background(), wrapped) {
		t.Error("a 429 carrying Retry-After is not retryable")
	}
}

// TestTransport: a retryable answer with a valid Retry-After becomes an
// *AfterError around the ResponseError vault/api makes of it; every other
// answer passes as it was.
func TestTransport(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		status     int
		retryAfter string
		wantAfter  time.Duration // 0: the answer passes
	}{
		{"429 with seconds", "/v1/kv/x", 429, "2", 2 * time.Second},
		{"503 with seconds", "/v1/kv/x", 503, "1", time.Second},
		{"429 without Retry-After", "/v1/kv/x", 429, "", 0},
		{"429 with a bad Retry-After", "/v1/kv/x", 429, "soon", 0},
		{"500 is not asked to wait", "/v1/kv/x", 500, "2", 0},
		{"200", "/v1/kv/x", 200, "2", 0},
		{"a standby's 429 to sys/health is an answer", "/v1/sys/health", 429, "2", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				h := http.Header{}
				if tc.retryAfter != "" {
					h.Set("Retry-After", tc.retryAfter)
				}
				return &http.Response{StatusCode: tc.status, Header: h, Request: r,
					Body: io.NopCloser(strings.NewReader(`{"errors":["slow down"]}`))}, nil
			})
			req, _ := http.NewRequest("GET", "http://vault"+tc.path, nil)
			resp, err := Transport(next).RoundTrip(req)
			if tc.wantAfter == 0 {
				if err != nil || resp == nil || resp.StatusCode != tc.status {
					t.Fatalf("RoundTrip = %v, %v; want the answer as it was", resp, err)
				}
				return
			}
			var ae *AfterError
			var re *vault.ResponseError
			if resp != nil || !errors.As(err, &ae) || ae.After != tc.wantAfter {
				t.Fatalf("RoundTrip = %v, %v; want an *AfterError of %v", resp, err, tc.wantAfter)
			}
			if !errors.As(err, &re) || re.StatusCode != tc.status || len(re.Errors) != 1 || re.Errors[0] != "slow down" {
				t.Errorf("err = %#v, want the ResponseError of HTTP %d with Vault's message", err, tc.status)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestVaultRetryable(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v1/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	badCert := &url.Error{Op: "Get", URL: "https://v/v1/x", Err: x509.UnknownAuthorityError{}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"connection refused", context.Background(), refused, true},
		{"connection closed mid-answer", context.Background(), fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"untrusted certificate", context.Background(), badCert, false},
		{"caller gave up", cancelled, refused, false},
		{"deadline", context.Background(), fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"sealed", context.Background(), &vault.ResponseError{StatusCode: 503}, true},
		{"rate limited", context.Background(), &vault.ResponseError{StatusCode: 429}, true},
		{"bad gateway", context.Background(), &vault.ResponseError{StatusCode: 502}, true},
		{"gateway timeout", context.Background(), &vault.ResponseError{StatusCode: 504}, true},
		{"login verification failure", context.Background(), &vault.ResponseError{StatusCode: 500}, false},
		{"permission denied", context.Background(), &vault.ResponseError{StatusCode: 403}, false},
		{"not a network error", context.Background(), errors.New("json: cannot unmarshal"), false},
	}
	for _, tc := range tests {
		if got := VaultRetryable(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: VaultRetryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := OneLine("1 error occurred:\n\t* bad\n\n"); got != "1 error occurred: * bad" {
		t.Errorf("OneLine = %q", got)
	}
	long := strings.Repeat("x", 700)
	if got := OneLine(long); len(got) != 600+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("OneLine did not cut at 600: %d bytes", len(got))
	}
}
