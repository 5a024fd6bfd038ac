package params

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// objectsList returns n objects named o0…o<n-1>.
func objectsList(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- objectName: o%d\n  secretPath: secret/data/o%d\n", i, i)
	}
	return b.String()
}

// TestParseRefusesHostileInput complements TestParseErrorsNameTheParameter
// with input an attacker or a broken tool could send.
func TestParseRefusesHostileInput(t *testing.T) {
	one := func(field string) map[string]string {
		return base(map[string]string{"objects": "- objectName: a\n  secretPath: s/a\n" + field})
	}
	named := func(name string) map[string]string {
		return base(map[string]string{"objects": fmt.Sprintf("- objectName: %q\n  secretPath: s/a\n", name)})
	}
	tests := []struct {
		name      string
		attrs     map[string]string
		parameter string
		contains  string
	}{
		{"traversal in the middle", named("a/../../b"), "objects[0].objectName", "relative path"},
		{"dot segment", named("a/./b"), "objects[0].objectName", "relative path"},
		{"leading dot slash", named("./a"), "objects[0].objectName", "relative path"},
		{"backslash traversal", named(`..\x`), "objects[0].objectName", "backslash"},
		{"NUL byte", named("a\x00b"), "objects[0].objectName", "NUL"},
		{"root", named("/"), "objects[0].objectName", "relative path"},
		{"double slash absolute", named("//etc/shadow"), "objects[0].objectName", "relative path"},
		{"driver's data dir inside", named("x/..data"), "objects[0].objectName", "reserves"},
		{"second object traverses", base(map[string]string{"objects": objectsList(3) + "- objectName: ../x\n  secretPath: s/a\n"}), "objects[3].objectName", "relative path"},
		{"duplicate later in the list", base(map[string]string{"objects": "- objectName: a\n  secretPath: s/a\n- objectName: b\n  secretPath: s/b\n- objectName: a\n  secretPath: s/c\n"}), "objects[2].objectName", "objects[0]"},
		{"257 objects", base(map[string]string{"objects": objectsList(maxObjects + 1)}), "objects", "limit of 256"},
		{"zero file permission", one("  filePermission: 0\n"), "objects[0].filePermission", "between 0001 and 0777"},
		{"negative file permission", one("  filePermission: -384\n"), "objects[0].filePermission", "between 0001 and 0777"},
		{"setuid file permission", one("  filePermission: 04755\n"), "objects[0].filePermission", "0777"},
		{"symbolic file permission", one("  filePermission: rw-------\n"), "objects", "not a YAML list"},
		{"utf-16 encoding", one("  encoding: utf-16\n"), "objects[0].encoding", "utf-8 (default), base64 or hex"},
		{"base32 encoding", one("  encoding: base32\n"), "objects[0].encoding", "utf-8 (default), base64 or hex"},
		{"tokens as a list", base(map[string]string{AttrServiceAccountTokens: `[{"token":"x"}]`}), AttrServiceAccountTokens, "wrong type"},
		{"token not an object", base(map[string]string{AttrServiceAccountTokens: `{"vault":"eyJhbGciOi"}`}), AttrServiceAccountTokens, "wrong type"},
		{"token a number", base(map[string]string{AttrServiceAccountTokens: `{"vault":{"token":5}}`}), AttrServiceAccountTokens, "wrong type"},
		{"tokens truncated", base(map[string]string{AttrServiceAccountTokens: `{"vault":{"tok`}), AttrServiceAccountTokens, "syntax error"},
		{"negative permission", base(nil), "permission", "file mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			perm := "420"
			if tc.name == "negative permission" {
				perm = "-420"
			}
			_, err := Parse(attrsJSON(t, tc.attrs), perm, testMethods)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("want *params.Error, got %v", err)
			}
			if pe.Parameter != tc.parameter || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("got parameter %q: %v; want %q containing %q", pe.Parameter, err, tc.parameter, tc.contains)
			}
		})
	}
}

func TestParseAcceptsTheObjectLimit(t *testing.T) {
	p, err := Parse(attrsJSON(t, base(map[string]string{"objects": objectsList(maxObjects)})), "420", testMethods)
	if err != nil || len(p.Objects) != maxObjects {
		t.Fatalf("%d objects: %v", maxObjects, err)
	}
}

// TestParseBoundsCostAndMessages: hostile sizes and YAML aliases cost little
// and yield short messages.
func TestParseBoundsCostAndMessages(t *testing.T) {
	laughs := "- objectName: x\n  secretPath: pki/issue/x\n  method: POST\n  secretArgs:\n    a: &a [l,l,l,l,l,l,l,l,l]\n"
	for i, c := range "bcdefgh" {
		prev := string("abcdefg"[i])
		laughs += fmt.Sprintf("    %c: &%c [%s]\n", c, c, strings.TrimSuffix(strings.Repeat("*"+prev+",", 9), ","))
	}
	huge := strings.Repeat("x", 1<<20)
	tests := []struct {
		name      string
		attrs     map[string]string
		parameter string
	}{
		{"billion laughs", base(map[string]string{"objects": laughs}), "objects"},
		{"megabyte object name", base(map[string]string{"objects": "- objectName: ../" + huge + "\n  secretPath: s/a\n"}), "objects[0].objectName"},
		{"megabyte auth method", base(map[string]string{"vaultAuthMethod": huge}), "vaultAuthMethod"},
		{"megabyte YAML garbage", base(map[string]string{"objects": "- [" + huge}), "objects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			attrs := attrsJSON(t, tc.attrs)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Parse(attrs, "420", testMethods)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			var pe *Error
			if !errors.As(err, &pe) || pe.Parameter != tc.parameter {
				t.Fatalf("want an error naming %s, got %v", tc.parameter, err)
			}
			if len(err.Error()) > 1024 {
				t.Errorf("message is %d bytes long: it must stay readable in the pod's events", len(err.Error()))
			}
			t.Logf("%d bytes of input: %d KiB allocated, %v", len(attrs), (after.TotalAlloc-before.TotalAlloc)>>10, elapsed)
			// Cost is measured in bytes allocated, which do not depend on
			// the machine's load; the time bound only catches a hang.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB for %d bytes of input", alloc>>20, len(attrs))
			}
			if elapsed > 10*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}
