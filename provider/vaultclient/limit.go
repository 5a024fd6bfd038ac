package vaultclient

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/sync/semaphore"
)

const (
	// maxErrorBody bounds the body of an error answer: Vault's are a few
	// hundred bytes; what is quoted of it is shortened further (retry.OneLine).
	maxErrorBody = 64 << 10
	// maxAPIBody bounds answers that carry no secret of a class's: logins,
	// token calls, mount lookups, lease renewals.
	maxAPIBody = 256 << 10
	// DefaultBodyBudget bounds the bytes of Vault answers being read at
	// once, over every Mount.
	DefaultBodyBudget = 96 << 20
	budgetChunk       = 32 << 10
)

// TooLargeError is an answer from Vault larger than the provider reads.
type TooLargeError struct {
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the answer is larger than the %d bytes this provider reads from Vault for it (--max-mount-bytes bounds secrets)", e.Limit)
}

// BusyError is an answer that could not be read because the answers being
// read at once fill the provider's budget.
type BusyError struct {
	Budget int64
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("the provider is reading %d MiB of Vault answers at once, its bound: try again", e.Budget>>20)
}

// limitTransport bounds what is read of each answer — a vaultAddress is
// chosen by a class, and its server may send an endless body — and of all
// answers being read at once (budget).
type limitTransport struct {
	next   http.RoundTripper
	max    int64 // bytes of a successful read of a secret
	budget *semaphore.Weighted
	total  int64
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	limit := t.max
	switch {
	case resp.StatusCode >= 400:
		limit = maxErrorBody
	case apiPath(r.URL.Path):
		limit = maxAPIBody
	}
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, &TooLargeError{Limit: limit}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, limit: limit, budget: t.budget, total: t.total}
	return resp, nil
}

// apiPath reports whether a request's answer is Vault's own, not a secret.
func apiPath(p string) bool {
	p = strings.TrimPrefix(p, "/v1/")
	return strings.HasSuffix(p, "/login") || strings.HasPrefix(p, "auth/token/") || strings.HasPrefix(p, "sys/")
}

type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	limit    int64
	budget   *semaphore.Weighted
	total    int64
	reserved int64 // of the budget, released at Close
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &TooLargeError{Limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	read := b.limit - b.left
	if b.budget != nil && read+int64(len(p)) > b.reserved {
		need := max(int64(budgetChunk), read+int64(len(p))-b.reserved)
		if !b.budget.TryAcquire(need) {
			return 0, &BusyError{Budget: b.total}
		}
		b.reserved += need
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, &TooLargeError{Limit: b.limit}
	}
	return n, err
}

func (b *limitedBody) Close() error {
	if b.budget != nil && b.reserved > 0 {
		b.budget.Release(b.reserved)
		b.reserved = 0
	}
	return b.rc.Close()
}
