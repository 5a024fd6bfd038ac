package vaultclient

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// endless writes status and then an endless body.
func endless(t *testing.T, status int, chunk string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		b := []byte(strings.Repeat(chunk, 4096))
		for {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestEndlessAnswersAreCut: a Vault (a vaultAddress a class chose) that
// answers with an endless body is read up to the bound, then the call
// fails; an endless error body is cut at 64 KiB.
func TestEndlessAnswersAreCut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		chunk  string
		limit  int64
	}{
		{"a 200 of endless JSON", 200, `{"data":{"k":"` + strings.Repeat("v", 100), 1 << 20},
		{"a 500 of endless text", 500, "not json at all ", maxErrorBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := endless(t, tc.status, tc.chunk)
			c, err := NewPool(10*time.Second, nil, WithMaxBody(1<<20)).Get(srv.URL, params.TLS{})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Logical().Read("secret/x")
			var tl *TooLargeError
			if !errors.As(err, &tl) || tl.Limit != tc.limit {
				t.Fatalf("err = %v, want a TooLargeError at %d bytes", err, tc.limit)
			}
			var re *vault.ResponseError
			if errors.As(err, &re) {
				t.Errorf("the body became a ResponseError of %d messages", len(re.Errors))
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}
