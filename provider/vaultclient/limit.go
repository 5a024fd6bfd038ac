package vaultclient

import (
	"fmt"
	"io"
	"net/http"
)

// maxErrorBody bounds the body of an error answer: Vault's are a few
// hundred bytes; what is quoted of it is shortened further (retry.OneLine).
const maxErrorBody = 64 << 10

// TooLargeError is an answer from Vault larger than the provider reads.
type TooLargeError struct {
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the answer is larger than the %d bytes this provider reads from Vault (--max-mount-bytes bounds it)", e.Limit)
}

// limitTransport bounds what is read of each answer: a vaultAddress is
// chosen by a class, and its server may send an endless body.
type limitTransport struct {
	next http.RoundTripper
	max  int64 // bytes of a successful answer
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	limit := t.max
	if resp.StatusCode >= 400 {
		limit = maxErrorBody
	}
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, &TooLargeError{Limit: limit}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: limit, limit: limit}
	return resp, nil
}

type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &TooLargeError{Limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, &TooLargeError{Limit: b.limit}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
