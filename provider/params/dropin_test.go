package params

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestParseSecretPathFormsOfHashiCorpsProvider: the path forms HashiCorp's
// provider accepts name the same object here.
func TestParseSecretPathFormsOfHashiCorpsProvider(t *testing.T) {
	tests := []struct {
		secretPath string
		wantPath   string
		wantQuery  url.Values
	}{
		{"secret/data/app", "secret/data/app", nil},
		{"/v1/secret/data/app", "secret/data/app", nil},
		{"v1/secret/data/app", "secret/data/app", nil},
		{"/secret/data/app/", "secret/data/app", nil},
		{"secret/data/app?version=2", "secret/data/app", url.Values{"version": {"2"}}},
		{"/v1/secret/data/app?version=1&x=y", "secret/data/app", url.Values{"version": {"1"}, "x": {"y"}}},
		{"secret/data/app?", "secret/data/app", nil},
		{"database/creds/app?a=1&a=2", "database/creds/app", url.Values{"a": {"1", "2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.secretPath, func(t *testing.T) {
			objs := "- objectName: a\n  secretPath: " + quoteYAML(tc.secretPath) + "\n"
			p, err := Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "420", testMethods)
			if err != nil {
				t.Fatal(err)
			}
			o := p.Objects[0]
			if o.SecretPath != tc.wantPath || !reflect.DeepEqual(o.Query, tc.wantQuery) {
				t.Errorf("got path %q query %v, want %q %v", o.SecretPath, o.Query, tc.wantPath, tc.wantQuery)
			}
		})
	}
}

func TestParseRefusesBadSecretPaths(t *testing.T) {
	for _, sp := range []string{"/v1/", "secret/../x", "secret//x?version=1", "secret/x?version=%zz", "?version=2"} {
		t.Run(sp, func(t *testing.T) {
			objs := "- objectName: a\n  secretPath: " + quoteYAML(sp) + "\n"
			_, err := Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "420", testMethods)
			var pe *Error
			if !errors.As(err, &pe) || pe.Parameter != "objects[0].secretPath" {
				t.Fatalf("want an error naming objects[0].secretPath, got %v", err)
			}
		})
	}
}

// TestParseSecretArgsAnyMethodAndNested: secretArgs go with any method and
// may nest maps and lists; they come out as JSON-ready values.
func TestParseSecretArgsAnyMethodAndNested(t *testing.T) {
	objs := `
- objectName: cipher
  secretPath: transit/encrypt/app
  method: POST
  secretArgs:
    batch_input:
      - plaintext: aGVsbG8=
        context: {tenant: a}
      - plaintext: d29ybGQ=
- objectName: read-with-body
  secretPath: secret/data/app
  secretArgs: {ignored: true}
`
	p, err := Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "420", testMethods)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p.Objects[0].SecretArgs)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"batch_input":[{"context":{"tenant":"a"},"plaintext":"aGVsbG8="},{"plaintext":"d29ybGQ="}]}`
	if string(b) != want {
		t.Errorf("secretArgs JSON = %s, want %s", b, want)
	}
	if p.Objects[1].Method != "GET" || p.Objects[1].SecretArgs["ignored"] != true {
		t.Errorf("GET with secretArgs = %+v", p.Objects[1])
	}
}

func TestParseSecretArgsThatAreNotJSON(t *testing.T) {
	objs := "- objectName: a\n  secretPath: s/a\n  method: POST\n  secretArgs:\n    m: {1: x}\n"
	_, err := Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "420", testMethods)
	var pe *Error
	if !errors.As(err, &pe) || pe.Parameter != "objects[0].secretArgs" {
		t.Fatalf("want an error naming objects[0].secretArgs, got %v", err)
	}
}

// TestParseFilePermissionOctal: YAML writes file modes in octal, as in
// HashiCorp's documentation (0600 and 0o600 alike).
func TestParseFilePermissionOctal(t *testing.T) {
	for _, fp := range []string{"0600", "0o600", "384"} {
		objs := "- objectName: a\n  secretPath: s/a\n  filePermission: " + fp + "\n"
		p, err := Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "420", testMethods)
		if err != nil {
			t.Fatalf("%s: %v", fp, err)
		}
		if p.Objects[0].FilePermission != 0o600 {
			t.Errorf("%s: mode %o, want 600", fp, p.Objects[0].FilePermission)
		}
	}
}

func TestParseRefusesBothAuthMountParameters(t *testing.T) {
	attrs := base(map[string]string{"vaultAuthMountPath": "azure-east", "vaultKubernetesMountPath": "k8s"})
	_, err := Parse(attrsJSON(t, attrs), "420", testMethods)
	var pe *Error
	if !errors.As(err, &pe) || pe.Parameter != "vaultAuthMountPath" || !strings.Contains(err.Error(), "vaultKubernetesMountPath") {
		t.Fatalf("want an error naming both parameters, got %v", err)
	}
	for _, name := range []string{"vaultAuthMountPath", "vaultKubernetesMountPath"} {
		p, err := Parse(attrsJSON(t, base(map[string]string{name: "/auth/k8s-east/"})), "420", testMethods)
		if err != nil || p.AuthMountPath != "k8s-east" {
			t.Errorf("%s alone: mount %q, err %v", name, p.AuthMountPath, err)
		}
	}
}

func TestParseUnknownObjectFieldIsRefused(t *testing.T) {
	objs := "- objectName: a\n  secretPath: s/a\n  secretkey: typo\n"
	_, err := Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "420", testMethods)
	if err == nil || !strings.Contains(err.Error(), "secretkey") || !strings.Contains(err.Error(), "known fields") {
		t.Fatalf("want an error naming the unknown field, got %v", err)
	}
}

func quoteYAML(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestParseReuse(t *testing.T) {
	objs := "- objectName: a\n  secretPath: database/creds/app\n- objectName: b\n  secretPath: database/creds/app\n  reuse: false\n- objectName: c\n  secretPath: pki/issue/web\n  method: PUT\n  reuse: true\n"
	p, err := Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "420", testMethods)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Objects[0].Reuse || p.Objects[1].Reuse || !p.Objects[2].Reuse {
		t.Errorf("reuse = %v %v %v, want true false true", p.Objects[0].Reuse, p.Objects[1].Reuse, p.Objects[2].Reuse)
	}
	objs = "- objectName: a\n  secretPath: s/a\n  reuse: sometimes\n"
	_, err = Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "420", testMethods)
	if err == nil || !strings.Contains(err.Error(), "objects") {
		t.Errorf("reuse: sometimes accepted: %v", err)
	}
}
