package vaultclient

import (
	"fmt"
	"io"
	"net/http"
	"strings"
)

const (
	// maxErrorBody bounds the body of an error answer: Vault's are a few
	// hundred bytes; what is quoted of it is shortened further (retry.OneLine).
	maxErrorBody = 64 << 10
	// maxAPIBody bounds answers that carry no secret of a class's: logins,
	// token calls, mount lookups, lease renewals.
	maxAPIBody  = 256 << 10
	budgetChunk = 32 << 10
)

// TooLargeError is an answer from Vault larger than the provider reads.
type TooLargeError struct {
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the answer is larger than the %d bytes this provider reads from Vault for it (--max-mount-bytes bounds secrets)", e.Limit)
}

// limitTransport bounds what is read of each answer — a vaultAddress is
// chosen by a class, and its server may send an endless body — and of all
// answers being read at once (budget).
type limitTransport struct {
	next   http.RoundTripper
	max    int64 // bytes of a successful read of a secret
	budget *budget
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
	resp.Body = &limitedBody{rc: resp.Body, left: limit, limit: limit, res: t.budget.open(r.Context())}
	return resp, nil
}

// apiPath reports whether a request's answer is Vault's own, not a secret.
func apiPath(p string) bool {
	p = strings.TrimPrefix(p, "/v1/")
	return strings.HasSuffix(p, "/login") || strings.HasPrefix(p, "auth/token/") || strings.HasPrefix(p, "sys/")
}

type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
	res   *reservation // of the budget, released at Close
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &TooLargeError{Limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	if err := b.res.grow(b.limit - b.left + int64(len(p))); err != nil {
		return 0, err
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, &TooLargeError{Limit: b.limit}
	}
	return n, err
}

func (b *limitedBody) Close() error {
	b.res.close()
	return b.rc.Close()
}
