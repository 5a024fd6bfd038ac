package auth

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestClaims(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name    string
		token   string
		want    map[string]any
		wantErr string
	}{
		{"well formed", makeJWT(t, map[string]any{"aud": "a", "oid": "o", "exp": 5}), map[string]any{"aud": "a", "oid": "o", "exp": float64(5)}, ""},
		{"padded payload", "h." + base64.URLEncoding.EncodeToString([]byte(`{"aud":"x"}`)) + ".s", map[string]any{"aud": "x"}, ""},
		{"aud as list", "h." + enc([]byte(`{"aud":["a","b"]}`)) + ".s", map[string]any{"aud": []any{"a", "b"}}, ""},
		{"two parts", "h.p", nil, "not a JWT: 2 parts"},
		{"four parts", "a.b.c.d", nil, "not a JWT: 4 parts"},
		{"empty", "", nil, "not a JWT: 1 parts"},
		{"payload not base64url", "h.!!!.s", nil, "not base64url"},
		{"payload standard base64 with +/", "h." + base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe}) + ".s", nil, "not base64url"},
		{"payload not JSON", "h." + enc([]byte("hello")) + ".s", nil, "not a JSON object"},
		{"payload a JSON array", "h." + enc([]byte(`["aud"]`)) + ".s", nil, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Claims(tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Claims error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("claims = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if s, ok := v.([]any); ok {
					g, _ := got[k].([]any)
					if len(g) != len(s) || g[0] != s[0] || g[1] != s[1] {
						t.Errorf("claim %s = %v, want %v", k, got[k], v)
					}
					continue
				}
				if got[k] != v {
					t.Errorf("claim %s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestDescribeJWT(t *testing.T) {
	tests := []struct {
		name    string
		claims  map[string]any
		raw     string
		want    string
		notWant []string
	}{
		{
			name: "azure access token, claims in fixed order",
			claims: map[string]any{
				"tid": "tenant-1", "appid": "app-1", "oid": "oid-1", "sub": "sub-1",
				"iss": "https://sts.windows.net/tenant-1/", "aud": "https://management.azure.com/",
				"exp": 1900000000, "name": "not described", "xms_mirid": "/subscriptions/s",
			},
			want:    "aud=https://management.azure.com/ iss=https://sts.windows.net/tenant-1/ sub=sub-1 oid=oid-1 appid=app-1 tid=tenant-1 exp=2030-03-17T17:46:40Z",
			notWant: []string{"name", "xms_mirid"},
		},
		{
			name:   "kubernetes service-account token",
			claims: map[string]any{"aud": []string{"vault"}, "iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:shop:web"},
			want:   "aud=[vault] iss=https://kubernetes.default.svc sub=system:serviceaccount:shop:web",
		},
		{name: "no known claims", claims: map[string]any{"foo": "bar"}, want: ""},
		{name: "exp not a number is left out", claims: map[string]any{"aud": "a", "exp": "soon"}, want: "aud=a"},
		{name: "undecodable", raw: "opaque-token", want: "an undecodable JWT (not a JWT: 1 parts)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.raw
			if tok == "" {
				tok = makeJWT(t, tc.claims)
			}
			got := DescribeJWT(tok)
			if got != tc.want {
				t.Errorf("DescribeJWT = %q\nwant          %q", got, tc.want)
			}
			for _, nw := range tc.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("description contains %q: %s", nw, got)
				}
			}
			if parts := strings.Split(tok, "."); len(parts) == 3 && strings.Contains(got, parts[2]) {
				t.Errorf("description contains the signature")
			}
		})
	}
}
