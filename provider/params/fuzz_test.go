package params

import (
	"encoding/json"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// FuzzParse feeds Parse arbitrary MountRequests. attributes is the JSON the
// driver sends; objects, when not empty and attributes is a JSON object,
// replaces its "objects" parameter, so the fuzzer can work on the YAML
// directly. The seed corpus (testdata/fuzz/FuzzParse) holds realistic
// SecretProviderClasses: workload identity, HashiCorp-style, dynamic, nested,
// node identity, and malformed ones.
//
// Parse must never panic, must reject with a *Error that names a parameter
// and never echoes a service-account token, and what it accepts must be safe
// to mount.
func FuzzParse(f *testing.F) {
	f.Add(`{"roleName":"app","clientID":"`+clientID+`"}`, "- objectName: a\n  secretPath: secret/a\n", "420")
	f.Fuzz(func(t *testing.T, attributes, objects, permission string) {
		attributes = withObjects(attributes, objects)
		p, err := Parse(attributes, permission, testMethods)
		if err != nil {
			checkRejection(t, err, attributes)
			return
		}
		checkAccepted(t, p)
	})
}

func withObjects(attributes, objects string) string {
	var m map[string]string
	if objects == "" || json.Unmarshal([]byte(attributes), &m) != nil || m == nil {
		return attributes
	}
	m["objects"] = objects
	b, err := json.Marshal(m)
	if err != nil {
		return attributes
	}
	return string(b)
}

func checkRejection(t *testing.T, err error, attributes string) {
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("rejection is %T, not *params.Error: %v", err, err)
	}
	if strings.TrimSpace(pe.Parameter) == "" || pe.Problem == "" {
		t.Fatalf("rejection names no parameter or problem: %+v", pe)
	}
	if !strings.HasPrefix(err.Error(), "SecretProviderClass parameter "+pe.Parameter+" ") {
		t.Fatalf("message does not start by naming the parameter: %q", err)
	}
	var attrs map[string]string
	if json.Unmarshal([]byte(attributes), &attrs) != nil {
		return
	}
	tokens := map[string]driverToken{}
	if json.Unmarshal([]byte(attrs[AttrServiceAccountTokens]), &tokens) != nil {
		return
	}
	for _, tok := range tokens {
		// Short values occur in any text by chance; real tokens are long.
		if len(tok.Token) >= 24 && strings.Contains(err.Error(), tok.Token) {
			t.Fatalf("rejection echoes a service-account token: %v", err)
		}
	}
}

func checkAccepted(t *testing.T, p *Params) {
	if p.RoleName == "" || p.AuthMountPath == "" || strings.Contains(p.AuthMountPath, "..") {
		t.Fatalf("accepted role %q at auth mount %q", p.RoleName, p.AuthMountPath)
	}
	if p.AuthMethod != auth.MethodAzure && p.AuthMethod != auth.MethodKubernetes && p.AuthMethod != auth.MethodJWT {
		t.Fatalf("accepted auth method %q", p.AuthMethod)
	}
	if p.VaultAddress != "" && checkURL(p.VaultAddress) != nil {
		t.Fatalf("accepted Vault address %q", p.VaultAddress)
	}
	if p.FilePermission > 0o777 {
		t.Fatalf("accepted file permission %o", p.FilePermission)
	}
	if len(p.Objects) == 0 || len(p.Objects) > maxObjects {
		t.Fatalf("accepted %d objects", len(p.Objects))
	}
	names := map[string]bool{}
	for i, o := range p.Objects {
		n := o.ObjectName
		if n == "" || path.IsAbs(n) || path.Clean(n) != n || n == "." || strings.ContainsAny(n, "\\\x00") {
			t.Fatalf("objects[%d]: accepted unsafe file name %q", i, n)
		}
		for _, seg := range strings.Split(n, "/") {
			if strings.HasPrefix(seg, "..") {
				t.Fatalf("objects[%d]: accepted file name %q with a %q segment", i, n, seg)
			}
		}
		if names[n] {
			t.Fatalf("objects[%d]: accepted duplicate file name %q", i, n)
		}
		names[n] = true
		for _, seg := range strings.Split(o.SecretPath, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("objects[%d]: accepted secret path %q", i, o.SecretPath)
			}
		}
		if o.Method != "GET" && o.Method != "POST" && o.Method != "PUT" {
			t.Fatalf("objects[%d]: accepted method %q", i, o.Method)
		}
		if o.Encoding != EncodingUTF8 && o.Encoding != EncodingBase64 && o.Encoding != EncodingHex {
			t.Fatalf("objects[%d]: accepted encoding %q", i, o.Encoding)
		}
		if o.FilePermission > 0o777 {
			t.Fatalf("objects[%d]: accepted file permission %o", i, o.FilePermission)
		}
		if _, err := json.Marshal(o.SecretArgs); err != nil {
			t.Fatalf("objects[%d]: accepted secretArgs that cannot be sent: %v", i, err)
		}
	}
	for i, o := range p.Objects {
		for dir := path.Dir(o.ObjectName); dir != "."; dir = path.Dir(dir) {
			if names[dir] {
				t.Fatalf("objects[%d]: %q is inside another object's file %q", i, o.ObjectName, dir)
			}
		}
	}
}
