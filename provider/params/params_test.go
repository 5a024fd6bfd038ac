package params

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
)

const clientID = "11111111-2222-3333-4444-555555555555"

func attrsJSON(t *testing.T, m map[string]string) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func base(extra map[string]string) map[string]string {
	m := map[string]string{
		"roleName":             "app",
		"clientID":             clientID,
		"objects":              "- objectName: db-password\n  secretPath: secret/data/db\n  secretKey: password\n",
		AttrPodName:            "web-0",
		AttrPodNamespace:       "shop",
		AttrServiceAccountName: "web",
	}
	for k, v := range extra {
		if v == "<delete>" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

func TestParseValid(t *testing.T) {
	p, err := Parse(attrsJSON(t, base(nil)), "420", testMethods)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.AuthMethod != auth.MethodAzure || p.AuthMountPath != "azure" || azureParams(p).Identity != azure.IdentityWorkload {
		t.Errorf("auth = %s at %s identity %s, want azure at azure, workload", p.AuthMethod, p.AuthMountPath, azureParams(p).Identity)
	}
	if azureParams(p).Resource != azure.DefaultResource {
		t.Errorf("resource = %q", azureParams(p).Resource)
	}
	if p.FilePermission != 0o644 {
		t.Errorf("permission = %o, want 644", p.FilePermission)
	}
	if len(p.Objects) != 1 || p.Objects[0].Method != "GET" || p.Objects[0].Encoding != EncodingUTF8 {
		t.Errorf("objects = %+v", p.Objects)
	}
	if p.Pod.Namespace != "shop" || p.Pod.ServiceAccount != "web" || p.Pod.Name != "web-0" {
		t.Errorf("pod = %+v", p.Pod)
	}
}

func TestParseHashiCorpStyleMeansKubernetes(t *testing.T) {
	attrs := map[string]string{
		"roleName":     "database",
		"vaultAddress": "http://vault.default:8200",
		"objects":      "- objectName: \"db-password\"\n  secretPath: \"secret/data/db-pass\"\n  secretKey: \"password\"\n",
	}
	p, err := Parse(attrsJSON(t, attrs), "420", testMethods)
	if err != nil {
		t.Fatal(err)
	}
	if p.AuthMethod != auth.MethodKubernetes || p.AuthMountPath != "kubernetes" {
		t.Errorf("got %s at %s, want kubernetes at kubernetes", p.AuthMethod, p.AuthMountPath)
	}
	attrs["vaultKubernetesMountPath"] = "k8s-east"
	p, err = Parse(attrsJSON(t, attrs), "420", testMethods)
	if err != nil {
		t.Fatal(err)
	}
	if p.AuthMountPath != "k8s-east" {
		t.Errorf("mount = %s, want the vaultKubernetesMountPath alias", p.AuthMountPath)
	}
}

func TestParseObjectsDetails(t *testing.T) {
	objs := `
- objectName: certs/tls.crt
  secretPath: pki/issue/web
  secretKey: certificate
  method: post
  secretArgs:
    common_name: web.example.com
    ttl: 10m
- objectName: certs/tls.key
  secretPath: pki/issue/web
  secretKey: private_key
  method: POST
  secretArgs: {common_name: web.example.com, ttl: 10m}
  filePermission: 0600
- objectName: blob
  secretPath: /secret/blob/
  secretKey: data
  encoding: BASE64
`
	p, err := Parse(attrsJSON(t, base(map[string]string{"objects": objs})), "", testMethods)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Objects[1].FilePermission; got != 0o600 {
		t.Errorf("filePermission 0600 parsed as %o", got)
	}
	if p.Objects[0].Method != "POST" || p.Objects[0].SecretArgs["common_name"] != "web.example.com" {
		t.Errorf("object 0 = %+v", p.Objects[0])
	}
	if p.Objects[2].SecretPath != "secret/blob" || p.Objects[2].Encoding != EncodingBase64 {
		t.Errorf("object 2 = %+v", p.Objects[2])
	}
}

func TestParseErrorsNameTheParameter(t *testing.T) {
	tests := []struct {
		name      string
		attrs     map[string]string
		perm      string
		parameter string
		contains  string
	}{
		{"missing role", base(map[string]string{"roleName": "<delete>"}), "420", "roleName", "required"},
		{"bad address", base(map[string]string{"vaultAddress": "vault:8200"}), "420", "vaultAddress", "https://"},
		{"bad skip tls", base(map[string]string{"vaultSkipTLSVerify": "yes please"}), "420", "vaultSkipTLSVerify", "boolean"},
		{"half client cert", base(map[string]string{"vaultTLSClientCertPath": "/c.pem"}), "420", "vaultTLSClientCertPath", "together"},
		{"bad method", base(map[string]string{"vaultAuthMethod": "ldap"}), "420", "vaultAuthMethod", "use azure, jwt or kubernetes"},
		{"bad identity", base(map[string]string{"azureIdentity": "node"}), "420", "azureIdentity", "workload, identityBinding, managed or podIdentity"},
		{"workload without client", base(map[string]string{"clientID": "<delete>", "azureIdentity": "workload"}), "420", "clientID", "required"},
		{"client not guid", base(map[string]string{"clientID": "my-app"}), "420", "clientID", "GUID"},
		{"bad resource", base(map[string]string{"azureResource": "management.azure.com"}), "420", "azureResource", "https://"},
		{"vm metadata with workload", base(map[string]string{"azureVMMetadata": "true"}), "420", "azureVMMetadata", "managed"},
		{"bad permission", base(nil), "rw-r--r--", "permission", "file mode"},
		{"no objects", base(map[string]string{"objects": ""}), "420", "objects", "required"},
		{"objects not yaml list", base(map[string]string{"objects": "objectName: x"}), "420", "objects", "YAML list"},
		{"unknown object field", base(map[string]string{"objects": "- objectName: a\n  secretPath: s/a\n  secretkey: x\n"}), "420", "objects", "known fields"},
		{"traversal", base(map[string]string{"objects": "- objectName: ../x\n  secretPath: s/a\n"}), "420", "objects[0].objectName", "relative path inside the mount"},
		{"absolute", base(map[string]string{"objects": "- objectName: /etc/passwd\n  secretPath: s/a\n"}), "420", "objects[0].objectName", "relative path"},
		{"unclean", base(map[string]string{"objects": "- objectName: a//b\n  secretPath: s/a\n"}), "420", "objects[0].objectName", "relative path"},
		{"driver reserved", base(map[string]string{"objects": "- objectName: ..data\n  secretPath: s/a\n"}), "420", "objects[0].objectName", ".."},
		{"empty name", base(map[string]string{"objects": "- secretPath: s/a\n"}), "420", "objects[0].objectName", "required"},
		{"duplicate", base(map[string]string{"objects": "- objectName: a\n  secretPath: s/a\n- objectName: a\n  secretPath: s/b\n"}), "420", "objects[1].objectName", "objects[0]"},
		{"file and dir", base(map[string]string{"objects": "- objectName: a\n  secretPath: s/a\n- objectName: a/b\n  secretPath: s/b\n"}), "420", "objects[1].objectName", "inside"},
		{"no path", base(map[string]string{"objects": "- objectName: a\n"}), "420", "objects[0].secretPath", "required"},
		{"dotdot path", base(map[string]string{"objects": "- objectName: a\n  secretPath: secret/../sys/raw\n"}), "420", "objects[0].secretPath", ".."},
		{"bad http method", base(map[string]string{"objects": "- objectName: a\n  secretPath: s/a\n  method: DELETE\n"}), "420", "objects[0].method", "GET"},
		{"bad encoding", base(map[string]string{"objects": "- objectName: a\n  secretPath: s/a\n  encoding: rot13\n"}), "420", "objects[0].encoding", "base64"},
		{"bad file permission", base(map[string]string{"objects": "- objectName: a\n  secretPath: s/a\n  filePermission: 01777\n"}), "420", "objects[0].filePermission", "0777"},
		{"tokens not json", base(map[string]string{AttrServiceAccountTokens: "{not json"}), "420", AttrServiceAccountTokens, "JSON"},
		{"empty token", base(map[string]string{AttrServiceAccountTokens: `{"api://AzureADTokenExchange":{"token":""}}`}), "420", AttrServiceAccountTokens, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(attrsJSON(t, tc.attrs), tc.perm, testMethods)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("want *params.Error, got %v", err)
			}
			if pe.Parameter != tc.parameter {
				t.Errorf("parameter = %q, want %q (%v)", pe.Parameter, tc.parameter, err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q does not contain %q", err, tc.contains)
			}
		})
	}
}

func TestParseNeverEchoesTokens(t *testing.T) {
	secret := "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.sig"
	attrs := base(map[string]string{AttrServiceAccountTokens: `{"aud":{"token":"` + secret + `"` /* truncated JSON */})
	_, err := Parse(attrsJSON(t, attrs), "420", testMethods)
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("error must exist and not contain the token: %v", err)
	}
}

func TestParseRejectsNonJSONAttributes(t *testing.T) {
	for _, in := range []string{"", "[]", `{"roleName": 5}`, "null garbage"} {
		if _, err := Parse(in, "420", testMethods); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestParseAcceptsAppIDURIResource(t *testing.T) {
	for _, res := range []string{"api://7d1e2f3a-0000-4000-8000-000000000001", "https://management.azure.com/", "https://vault.example.com"} {
		p, err := Parse(attrsJSON(t, base(map[string]string{"azureResource": res})), "420", testMethods)
		if err != nil {
			t.Errorf("azureResource %q refused: %v", res, err)
			continue
		}
		if azureParams(p).Resource != res {
			t.Errorf("resource = %q, want %q", azureParams(p).Resource, res)
		}
	}
}
