// Package retry owns when and how long to wait before trying a failed call
// again: capped exponential backoff with jitter bounded by the caller's
// deadline (Backoff), which failures may pass (VaultRetryable), the
// Retry-After a server asked for (AfterError, carried in the error the
// Vault client's transport returns), and how a failed call reads in a
// message: its retries (Note), a TLS hint, one line (OneLine). Vault logins
// (auth) and reads (provider/secrets) share it; it knows nothing of either.
package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	vault "github.com/hashicorp/vault/api"
)

// Backoff retries calls that failed for a reason that may pass (a connection
// refused, Vault sealed or rate limiting): capped exponential backoff with
// jitter, at least as long as the server asked (Retry-After), at most Retries
// more attempts, and never waiting past the context's deadline.
type Backoff struct {
	// Retries is how many times a failed call is tried again; 0 disables retries.
	Retries int
	// Base bounds the first wait (default 100ms); the bound doubles per retry.
	Base time.Duration
	// Max bounds every computed wait (default 2s).
	Max time.Duration
	// MaxRetryAfter is the longest Retry-After honoured (default 30s): a
	// server asking for more is not waited for.
	MaxRetryAfter time.Duration
	// Reserve is kept free before the context's deadline (at most a tenth of
	// the time left; default 500ms), so that an attempt that runs out of time
	// still leaves time to answer with an explanation.
	Reserve time.Duration

	sleep func(ctx context.Context, d time.Duration) error // tests
}

// Default is the policy for Vault reads and logins.
var Default = Backoff{Retries: 3}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = 100 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 2 * time.Second
	}
	if b.MaxRetryAfter <= 0 {
		b.MaxRetryAfter = 30 * time.Second
	}
	if b.Reserve <= 0 {
		b.Reserve = 500 * time.Millisecond
	}
	if b.sleep == nil {
		b.sleep = sleepCtx
	}
	return b
}

// Do calls op until it succeeds or fails for a reason retryable rejects, the
// retries are used up, or waiting would leave the next attempt no time before
// ctx's deadline.
// Each attempt gets a context that ends Reserve before ctx's deadline. When
// it gives up after a retryable failure it returns an *Error wrapping the
// last error. A failure that carries an *AfterError is not retried sooner
// than the server asked.
func (b Backoff) Do(ctx context.Context, retryable func(error) bool, op func(context.Context) error) error {
	b = b.withDefaults()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancel := b.attemptContext(ctx)
		err := op(actx)
		attemptExpired := actx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			return nil
		case attemptExpired:
			return &Error{Attempts: attempt, Elapsed: time.Since(start), Err: err, Deadline: true,
				Reason: "no answer in the time the mount's deadline leaves"}
		case ctx.Err() != nil || !retryable(err):
			return err
		case attempt > b.Retries:
			if attempt == 1 {
				return err
			}
			return &Error{Attempts: attempt, Elapsed: time.Since(start), Err: err}
		}
		wait, reason := b.wait(ctx, attempt, After(err))
		if reason != "" {
			return &Error{Attempts: attempt, Elapsed: time.Since(start), Err: err, Reason: reason}
		}
		if serr := b.sleep(ctx, wait); serr != nil {
			return err
		}
	}
}

// attemptContext keeps Reserve (at most a tenth of the time left) free
// before ctx's deadline.
func (b Backoff) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := min(b.Reserve, time.Until(deadline)/10)
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

// wait returns how long to wait before attempt+1, or why not to retry.
func (b Backoff) wait(ctx context.Context, attempt int, retryAfter time.Duration) (time.Duration, string) {
	bound := b.Max
	if shift := attempt - 1; shift < 30 && b.Base<<shift < b.Max {
		bound = b.Base << shift
	}
	// Equal jitter: between half the bound and the bound.
	wait := bound/2 + rand.N(bound/2+1)
	if retryAfter > b.MaxRetryAfter {
		return 0, fmt.Sprintf("the server asked to retry after %s, longer than the %s this provider waits", retryAfter, b.MaxRetryAfter)
	}
	wait = max(wait, retryAfter)
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+min(b.Reserve, time.Until(deadline)/10) {
		return 0, fmt.Sprintf("the next attempt, in %s, would be after the mount's deadline", wait.Round(time.Millisecond))
	}
	return wait, ""
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Error is a call that failed after retries, or that was not retried
// because waiting would have passed the deadline.
type Error struct {
	Attempts int
	Elapsed  time.Duration
	Reason   string // why retrying stopped before the retries were used up
	Err      error  // the last attempt's error
	// Deadline: the last attempt ran out of the time the deadline left.
	Deadline bool
}

func (e *Error) Error() string { return e.Err.Error() + e.Note() }
func (e *Error) Unwrap() error { return e.Err }

// Is makes an Error that ran out of time a context.DeadlineExceeded.
func (e *Error) Is(target error) bool {
	return e.Deadline && target == context.DeadlineExceeded
}

// Note says how often the call was tried, e.g. " (tried 4 times over 1.2s)".
func (e *Error) Note() string {
	s := fmt.Sprintf(" (tried %d times over %s", e.Attempts, e.Elapsed.Round(time.Millisecond))
	if e.Attempts == 1 {
		s = " (tried once"
	}
	if e.Reason != "" {
		s += "; stopped: " + e.Reason
	}
	return s + ")"
}

// Note returns the Note of an *Error in err's chain, or "".
func Note(err error) string {
	var re *Error
	if errors.As(err, &re) {
		return re.Note()
	}
	return ""
}

// RetryableStatus reports whether an HTTP status means "try again later":
// 429 (rate limited), 502, 503 (sealed, standby, overloaded) and 504.
func RetryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// ConnectionError reports whether err is a failure to get any answer from the
// server (refused, reset, timed out), rather than an HTTP answer, a TLS
// verification failure or the end of the caller's context.
func ConnectionError(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re *vault.ResponseError
	if errors.As(err, &re) || isTLSError(err) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func isTLSError(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
	)
	if errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &cve) || errors.As(err, &rhe) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:")
}

// VaultRetryable reports whether a Vault call that failed with err may
// succeed if tried again: no answer at all, or 429/502/503/504.
func VaultRetryable(ctx context.Context, err error) bool {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		return RetryableStatus(re.StatusCode)
	}
	return ConnectionError(ctx, err)
}

// AfterError is an answer that asked, with Retry-After, not to be tried
// again sooner than After. It wraps the answer's error (for Vault, the
// *vault.ResponseError), so the status and message stay readable.
type AfterError struct {
	After time.Duration
	Err   error
}

func (e *AfterError) Error() string { return e.Err.Error() }
func (e *AfterError) Unwrap() error { return e.Err }

// After returns the Retry-After of an *AfterError in err's chain, or 0.
func After(err error) time.Duration {
	var ae *AfterError
	if errors.As(err, &ae) {
		return ae.After
	}
	return 0
}

// Transport returns next with each retryable Vault answer (429, 502, 503,
// 504) that carries a valid Retry-After turned into an error: an
// *AfterError wrapping the *vault.ResponseError that vault/api would have
// made of the answer. A transport is the one place that sees the header;
// vault/api keeps only the status and message.
func Transport(next http.RoundTripper) http.RoundTripper {
	return afterTransport{next: next}
}

type afterTransport struct {
	next http.RoundTripper
}

func (t afterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || !RetryableStatus(resp.StatusCode) {
		return resp, err
	}
	after, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if !ok {
		return resp, nil
	}
	if resp.Request == nil {
		resp.Request = r
	}
	vresp := &vault.Response{Response: resp}
	// Error reads and closes the body; nil: an answer vault/api accepts (a
	// standby's 429 to sys/health), passed on as it was.
	rerr := vresp.Error()
	if rerr == nil {
		return vresp.Response, nil
	}
	return nil, &AfterError{After: after, Err: rerr}
}

// ParseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, 1<<20)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// TLSHint points at the TLS parameters when a connection to Vault failed on TLS.
func TLSHint(msg string) string {
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: failed to verify"):
		return " (Vault's certificate was not accepted: set vaultCACertPath, vaultCADirectory or vaultCAPem to its CA, and vaultTLSServerName to a name in the certificate)"
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "remote error"):
		return " (the TLS handshake failed: if Vault requires a client certificate, set vaultTLSClientCertPath and vaultTLSClientKeyPath)"
	}
	return ""
}

// Redact removes the user name and password from a URL (a vaultAddress
// such as https://user:pass@vault:8200) for logs and messages; text that is
// not a URL comes back as it was.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// OneLine joins s's lines and spaces and caps it at 600 bytes: every text
// a remote server chose (Vault's, Entra ID's messages) that a message
// quotes goes through it, as messages end up in a pod's events (which
// Kubernetes aggregates by message, one line each) and the log.
func OneLine(s string) string {
	return Truncate(strings.Join(strings.Fields(s), " "), 600)
}

// Truncate caps s at n bytes, at a character boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
