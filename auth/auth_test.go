package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRequestTokenFor(t *testing.T) {
	future := time.Now().Add(time.Hour)
	past := time.Now().Add(-time.Minute)
	const podSub = "system:serviceaccount:shop:web"
	sa := func(claims map[string]any) string {
		c := map[string]any{"sub": podSub, "aud": []string{"vault"}, "exp": future.Unix()}
		for k, v := range claims {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return makeJWT(t, c)
	}
	good, goodAz := sa(nil), sa(map[string]any{"aud": []string{"api://AzureADTokenExchange"}})
	tests := []struct {
		name      string
		tokens    map[string]ServiceAccountToken
		audience  string
		wantToken string
		wantErr   []string
		notInErr  []string
	}{
		{
			name:      "present, no expiry given by the driver",
			tokens:    map[string]ServiceAccountToken{"vault": {Token: good}},
			audience:  "vault",
			wantToken: good,
		},
		{
			name:      "present, not yet expired",
			tokens:    map[string]ServiceAccountToken{"vault": {Token: good, Expires: future}, "api://AzureADTokenExchange": {Token: goodAz}},
			audience:  "api://AzureADTokenExchange",
			wantToken: goodAz,
		},
		{
			name:     "no tokens at all",
			tokens:   nil,
			audience: "api://AzureADTokenExchange",
			wantErr:  []string{`audience "api://AzureADTokenExchange"`, "supplied 0", "tokenRequests", "{audience: \"api://AzureADTokenExchange\"}", "CSIDriver"},
		},
		{
			name:     "other audiences only",
			tokens:   map[string]ServiceAccountToken{"vault": {Token: "secret-1"}, "sts.amazonaws.com": {Token: "secret-2"}},
			audience: "api://AzureADTokenExchange",
			wantErr:  []string{`audience "api://AzureADTokenExchange"`, "supplied 2", `["sts.amazonaws.com" "vault"]`, "tokenRequests"},
			notInErr: []string{"secret-1", "secret-2"},
		},
		{
			name:     "expired by the driver's timestamp",
			tokens:   map[string]ServiceAccountToken{"vault": {Token: good, Expires: past}},
			audience: "vault",
			wantErr:  []string{`audience "vault"`, "expired at " + past.UTC().Format(time.RFC3339), "requiresRepublish: true"},
			notInErr: []string{good},
		},
		{
			name:     "expired by its exp claim",
			tokens:   map[string]ServiceAccountToken{"vault": {Token: sa(map[string]any{"exp": past.Unix()}), Expires: future}},
			audience: "vault",
			wantErr:  []string{`audience "vault"`, "expired at " + past.UTC().Format(time.RFC3339), "requiresRepublish: true"},
		},
		{
			name:     "another service account's token",
			tokens:   map[string]ServiceAccountToken{"vault": {Token: sa(map[string]any{"sub": "system:serviceaccount:billing:billing"}), Expires: future}},
			audience: "vault",
			wantErr:  []string{`audience "vault"`, `subject "system:serviceaccount:billing:billing"`, `not the pod's service account "` + podSub + `"`},
		},
		{
			name:     "no subject",
			tokens:   map[string]ServiceAccountToken{"vault": {Token: sa(map[string]any{"sub": nil})}},
			audience: "vault",
			wantErr:  []string{`subject ""`, podSub},
		},
		{
			name:     "not a JWT",
			tokens:   map[string]ServiceAccountToken{"vault": {Token: "opaque-secret-token"}},
			audience: "vault",
			wantErr:  []string{`audience "vault"`, "not a service-account JWT"},
			notInErr: []string{"opaque-secret-token"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Tokens: tc.tokens, Pod: Pod{Namespace: "shop", ServiceAccount: "web"}}
			got, err := r.TokenFor(tc.audience)
			if tc.wantErr == nil {
				if err != nil || got != tc.wantToken {
					t.Fatalf("TokenFor = %q, %v; want %q", got, err, tc.wantToken)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Kind != KindCredential {
				t.Fatalf("want *auth.Error KindCredential, got %T %v", err, err)
			}
			if got != "" {
				t.Errorf("token %q returned with an error", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q: %v", w, err)
				}
			}
			for _, w := range tc.notInErr {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error leaks %q: %v", w, err)
				}
			}
		})
	}
}

// The list of supplied audiences is sorted, so the same failure always gives
// the same message (Kubernetes aggregates events by message).
func TestRequestTokenForMessageIsStable(t *testing.T) {
	r := &Request{Tokens: map[string]ServiceAccountToken{}}
	for i := range 8 {
		r.Tokens[fmt.Sprintf("aud-%d", i)] = ServiceAccountToken{Token: "x"}
	}
	_, first := r.TokenFor("vault")
	for range 20 {
		if _, err := r.TokenFor("vault"); err.Error() != first.Error() {
			t.Fatalf("messages differ:\n%v\n%v", first, err)
		}
	}
}

func TestErrorUnwraps(t *testing.T) {
	cause := errors.New("root cause")
	err := fmt.Errorf("mount: %w", &Error{Kind: KindUnavailable, Err: fmt.Errorf("dial: %w", cause)})
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindUnavailable {
		t.Fatalf("errors.As failed on %v", err)
	}
	if !errors.Is(err, cause) {
		t.Errorf("auth.Error does not unwrap to its cause")
	}
	if ae.Error() != "dial: root cause" {
		t.Errorf("Error() = %q, want the wrapped message unchanged", ae.Error())
	}
}

// TestRequestTokenForChecksEveryCall: a token's claims are decoded once, but
// its expiry and subject are checked at every call, against the request's
// pod and the time of the call.
func TestRequestTokenForChecksEveryCall(t *testing.T) {
	tok := makeJWT(t, map[string]any{"sub": "system:serviceaccount:shop:web", "exp": float64(time.Now().Add(time.Hour).Unix())})
	web := &Request{Tokens: map[string]ServiceAccountToken{"vault": {Token: tok}}, Pod: Pod{Namespace: "shop", ServiceAccount: "web"}}
	for range 2 {
		if got, err := web.TokenFor("vault"); err != nil || got != tok {
			t.Fatalf("TokenFor = %q, %v; want the token", got, err)
		}
	}
	other := &Request{Tokens: web.Tokens, Pod: Pod{Namespace: "shop", ServiceAccount: "admin"}}
	if _, err := other.TokenFor("vault"); err == nil || !strings.Contains(err.Error(), "not the pod's service account") {
		t.Errorf("the web token for the admin pod: %v, want a refusal", err)
	}
	expired := makeJWT(t, map[string]any{"sub": "system:serviceaccount:shop:web", "exp": float64(time.Now().Add(-time.Minute).Unix())})
	old := &Request{Tokens: map[string]ServiceAccountToken{"vault": {Token: expired}}, Pod: web.Pod}
	for range 2 {
		if _, err := old.TokenFor("vault"); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("an expired token: %v, want a refusal every time", err)
		}
	}
}
