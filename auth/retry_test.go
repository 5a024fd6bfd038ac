package auth

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
			if got := RetryNote(err); (tc.wantNote == "") != (got == "") || !strings.Contains(got, tc.wantNote) {
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
func retryAfterOp(value string) func(context.Context) error {
	return func(ctx context.Context) error {
		NoteRetryAfter(ctx, http.Header{"Retry-After": []string{value}})
		return errTransient
	}
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	rec := &recorder{}
	b := Backoff{Retries: 1, sleep: rec.sleep}
	err := b.Do(context.Background(), isTransient, retryAfterOp("3"))
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
			err := b.Do(ctx, isTransient, retryAfterOp(tc.retryAfter))
			if len(rec.waits) != 0 {
				t.Errorf("waited %v, want no wait at all", rec.waits)
			}
			var re *RetryError
			if !errors.As(err, &re) || re.Attempts != 1 || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want a RetryError after 1 attempt saying %q", err, tc.reason)
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

func TestNoteRetryAfterOutsideDo(t *testing.T) {
	// Transports note every response; a note outside a Do (a request not
	// made by an attempt) is dropped, and no later Do on that context waits
	// for it.
	ctx := context.Background()
	NoteRetryAfter(ctx, http.Header{"Retry-After": []string{"5"}})
	rec := &recorder{}
	op, _ := failing(errTransient)
	if err := (Backoff{Retries: 1, sleep: rec.sleep}).Do(ctx, isTransient, op); err != nil {
		t.Fatal(err)
	}
	if len(rec.waits) != 1 || rec.waits[0] > 100*time.Millisecond {
		t.Errorf("waits = %v, want one backoff of at most 100ms, not the 5s noted outside the Do", rec.waits)
	}
}

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
