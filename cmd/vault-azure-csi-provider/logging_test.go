package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runProviderEnv makes the test binary run the provider with its arguments
// instead of the tests: logging is set up once per process, so each format
// gets a process of its own.
const runProviderEnv = "VACP_TEST_RUN_PROVIDER"

func TestMain(m *testing.M) {
	if os.Getenv(runProviderEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runProvider runs the provider in a child process with args and returns
// what it wrote to stderr. It starts, logs, and stops on the health address
// it cannot listen on.
func runProvider(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"--endpoint", filepath.Join(t.TempDir(), "p.sock"), "--health-addr", "127.0.0.1:99999"}, args...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runProviderEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("provider exited with %v, want 1 (it cannot listen on the health address)\nstderr:\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("the provider wrote to stdout: %q", stdout.String())
	}
	return stderr.String()
}

// TestLogFormatJSON: --log-format json writes the JSON lines of Kubernetes
// components (k8s.io/component-base/logs): ts, caller, msg, v on info lines
// and err on errors, then the key/value pairs.
func TestLogFormatJSON(t *testing.T) {
	logs := runProvider(t, "--log-format", "json", "-v=2")
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		lines = append(lines, l)
	}
	if len(lines) < 2 {
		t.Fatalf("logs = %q, want at least the start and the failure", logs)
	}
	start, failed := lines[0], lines[len(lines)-1]
	if _, ok := start["ts"].(float64); !ok || start["msg"] != "starting" || start["v"] != 0.0 || start["version"] != version ||
		!strings.HasPrefix(start["caller"].(string), "vault-azure-csi-provider/serve.go:") {
		t.Errorf("start line = %v, want ts (epoch milliseconds), caller, msg starting, v 0 and version %q", start, version)
	}
	if _, ok := failed["ts"].(float64); !ok || failed["msg"] != "provider failed" || !strings.Contains(failed["err"].(string), "127.0.0.1:99999") {
		t.Errorf("failure line = %v, want ts, msg provider failed and err", failed)
	}
	if _, ok := failed["v"]; ok {
		t.Errorf("error line has a verbosity: %v", failed)
	}
}

// TestLogFormatText: the default and --log-format text write klog's text
// lines.
func TestLogFormatText(t *testing.T) {
	header := `^[IE]\d{4} \d\d:\d\d:\d\d\.\d{6}\s+\d+ [\w.]+:\d+\] `
	for _, args := range [][]string{nil, {"--log-format", "text"}} {
		logs := runProvider(t, args...)
		lines := strings.Split(strings.TrimSpace(logs), "\n")
		if !regexp.MustCompile(header + `"starting" version="` + regexp.QuoteMeta(version) + `" commit="[^"]+" endpoint=`).MatchString(lines[0]) {
			t.Errorf("%v: first line %q, want klog's text header and \"starting\"", args, lines[0])
		}
		if last := lines[len(lines)-1]; !regexp.MustCompile(`^E` + header[len(`^[IE]`):] + `"provider failed" err=".*127\.0\.0\.1:99999`).MatchString(last) {
			t.Errorf("%v: last line %q, want klog's error line", args, last)
		}
	}
}

func TestLogFormatRefused(t *testing.T) {
	for _, format := range []string{"yaml", "JSON"} {
		if err := setupLogging(format); err == nil || !strings.Contains(err.Error(), "use text or json") {
			t.Errorf("setupLogging(%q) = %v, want a refusal", format, err)
		}
	}
}
