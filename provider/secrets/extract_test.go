package secrets

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	vault "github.com/hashicorp/vault/api"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

func kv2(data map[string]any) *vault.Secret {
	return &vault.Secret{RequestID: "req-1", Data: map[string]any{
		"data":     data,
		"metadata": map[string]any{"version": json.Number("3"), "created_time": "2030-01-01T00:00:00Z"},
	}}
}

func kv1(data map[string]any) *vault.Secret {
	return &vault.Secret{RequestID: "req-1", LeaseDuration: 2764800, Data: data}
}

func obj(key, encoding string) params.Object {
	return params.Object{ObjectName: "f", SecretPath: "secret/data/app", SecretKey: key, Method: "GET", Encoding: encoding}
}

func TestContent(t *testing.T) {
	tests := []struct {
		name     string
		secret   *vault.Secret
		obj      params.Object
		want     string
		wantErr  []string
		notInErr []string
	}{
		{"KV v2 inner key", kv2(map[string]any{"password": "s3cret"}), obj("password", ""), "s3cret", nil, nil},
		{"KV v1 top-level key", kv1(map[string]any{"password": "v1-secret"}), obj("password", ""), "v1-secret", nil, nil},
		{"KV v2 inner wins over top level", &vault.Secret{Data: map[string]any{"data": map[string]any{"k": "inner"}, "k": "top"}}, obj("k", ""), "inner", nil, nil},
		{"top-level key of a KV v2 response", kv2(map[string]any{"a": "b"}), obj("metadata", ""),
			`{"created_time":"2030-01-01T00:00:00Z","version":3}`, nil, nil},
		{"dynamic secret key", &vault.Secret{LeaseID: "pki/issue/web/abc", Data: map[string]any{"certificate": "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----", "serial_number": "01:02"}},
			obj("certificate", ""), "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----", nil, nil},
		{"dotted path in KV v2", kv2(map[string]any{"db": map[string]any{"primary": map[string]any{"password": "deep"}}}), obj("db.primary.password", ""), "deep", nil, nil},
		{"dotted path at top level", kv1(map[string]any{"a": map[string]any{"b": "x"}}), obj("a.b", ""), "x", nil, nil},
		{"literal dotted key wins over nesting", kv2(map[string]any{"a.b": "literal", "a": map[string]any{"b": "nested"}}), obj("a.b", ""), "literal", nil, nil},
		{"dotted path to a map is JSON", kv2(map[string]any{"a": map[string]any{"b": map[string]any{"c": "d"}}}), obj("a.b", ""), `{"c":"d"}`, nil, nil},
		{"number as JSON", kv2(map[string]any{"port": json.Number("5432")}), obj("port", ""), "5432", nil, nil},
		{"float as JSON", kv2(map[string]any{"ratio": 0.5}), obj("ratio", ""), "0.5", nil, nil},
		{"bool as JSON", kv2(map[string]any{"enabled": true}), obj("enabled", ""), "true", nil, nil},
		{"list as JSON", kv2(map[string]any{"hosts": []any{"a", "b"}}), obj("hosts", ""), `["a","b"]`, nil, nil},
		{"map as JSON", kv2(map[string]any{"conf": map[string]any{"b": json.Number("1"), "a": "x"}}), obj("conf", ""), `{"a":"x","b":1}`, nil, nil},
		{"empty string is written", kv2(map[string]any{"empty": ""}), obj("empty", ""), "", nil, nil},
		{"utf-8 explicit", kv2(map[string]any{"k": "héllo"}), obj("k", params.EncodingUTF8), "héllo", nil, nil},
		{"base64", kv2(map[string]any{"keystore": "AAECA/8="}), obj("keystore", params.EncodingBase64), "\x00\x01\x02\x03\xff", nil, nil},
		{"base64 with trailing newline", kv2(map[string]any{"k": "aGVsbG8=\n"}), obj("k", params.EncodingBase64), "hello", nil, nil},
		{"hex", kv2(map[string]any{"k": "DEADbeef"}), obj("k", params.EncodingHex), "\xde\xad\xbe\xef", nil, nil},
		{"hex with spaces around", kv2(map[string]any{"k": " 00ff\n"}), obj("k", params.EncodingHex), "\x00\xff", nil, nil},

		{"missing key lists names, not values", kv2(map[string]any{"username": "admin", "password": "hunter2"}), obj("passwd", ""), "",
			[]string{`secretKey "passwd"`, "secret/data/app", "[password, username]"}, []string{"hunter2", "admin"}},
		{"missing key in KV v1", kv1(map[string]any{"token": "tkn-value"}), obj("x", ""), "",
			[]string{"[token]"}, []string{"tkn-value"}},
		{"missing dotted key", kv2(map[string]any{"a": map[string]any{"c": "v"}}), obj("a.b", ""), "",
			[]string{`secretKey "a.b"`, "[a]"}, []string{`"v"`}},
		{"dotted through a string", kv2(map[string]any{"a": "plain"}), obj("a.b", ""), "",
			[]string{`secretKey "a.b"`}, []string{"plain"}},
		{"null value", kv2(map[string]any{"k": nil}), obj("k", ""), "", []string{`secretKey "k"`, "null"}, nil},
		{"invalid base64", kv2(map[string]any{"k": "not base64!"}), obj("k", params.EncodingBase64), "",
			[]string{`secretKey "k"`, "not valid base64", "encoding parameter"}, []string{"not base64!"}},
		{"invalid hex", kv2(map[string]any{"k": "xyz"}), obj("k", params.EncodingHex), "",
			[]string{`secretKey "k"`, "not valid hex", "encoding parameter"}, []string{"xyz"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Content(tc.secret, tc.obj)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Content: %v", err)
				}
				if string(got) != tc.want {
					t.Errorf("Content = %q, want %q", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Content = %q, want an error", got)
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

func TestContentKeyListIsCapped(t *testing.T) {
	data := map[string]any{}
	for i := range 30 {
		data[fmt.Sprintf("key%02d", i)] = "v"
	}
	_, err := Content(kv2(data), obj("nope", ""))
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "key00, key01") || !strings.Contains(msg, "key19, …]") || strings.Contains(msg, "key20") {
		t.Errorf("key list not sorted and capped at 20: %s", msg)
	}
}

func TestContentWholeSecret(t *testing.T) {
	a := kv2(map[string]any{"user": "app", "password": "pw"})
	b := kv2(map[string]any{"user": "app", "password": "pw"})
	a.RequestID, b.RequestID = "11111111-aaaa", "22222222-bbbb"
	o := obj("", "")

	ca, err := Content(a, o)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := Content(b, o)
	if err != nil {
		t.Fatal(err)
	}
	if string(ca) != string(cb) {
		t.Errorf("whole-secret content depends on the request ID:\n%s\n%s", ca, cb)
	}
	if strings.Contains(string(ca), "11111111-aaaa") {
		t.Errorf("whole-secret content contains the request ID: %s", ca)
	}
	var doc map[string]any
	if err := json.Unmarshal(ca, &doc); err != nil {
		t.Fatalf("whole-secret content is not JSON: %v\n%s", err, ca)
	}
	if id, ok := doc["request_id"]; ok && id != "" {
		t.Errorf("request_id = %v", id)
	}
	inner, _ := doc["data"].(map[string]any)["data"].(map[string]any)
	if inner["password"] != "pw" || inner["user"] != "app" {
		t.Errorf("whole-secret content lost the data: %s", ca)
	}
	if a.RequestID != "11111111-aaaa" {
		t.Errorf("Content modified the caller's secret")
	}
	// Other data gives other content.
	b.Data["data"].(map[string]any)["password"] = "pw2"
	if cb2, _ := Content(b, o); string(cb2) == string(ca) {
		t.Errorf("content did not change with the data")
	}
}

// TestDecodeErrorQuotesNoSecret: a value that is not valid hex or base64
// is refused without quoting any of it.
func TestDecodeErrorQuotesNoSecret(t *testing.T) {
	for _, tc := range []struct{ encoding, value string }{
		{params.EncodingHex, "SECRETX"}, {params.EncodingHex, "abc"}, {params.EncodingBase64, "SEC!RET"},
	} {
		s := &vault.Secret{Data: map[string]any{"k": tc.value}}
		_, err := Content(s, params.Object{ObjectName: "o", SecretPath: "kv/x", SecretKey: "k", Encoding: tc.encoding})
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("%s %q: %v, want a DecodeError", tc.encoding, tc.value, err)
		}
		for _, piece := range []string{"X", "'", "!", "SEC", "U+"} {
			if strings.Contains(err.Error(), piece) {
				t.Errorf("%s: the error quotes %q of the secret: %v", tc.encoding, piece, err)
			}
		}
	}
}
