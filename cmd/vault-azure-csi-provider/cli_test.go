package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestCLI(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "providers", "p.sock")
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string // regexps; empty: must be empty
	}{
		{name: "a stray word", args: []string{"--endpoint", sock, "version"}, code: 2, stderr: `unknown command "version"(.|\n)*usage: vault-azure-csi-provider`},
		{name: "a word before flags", args: []string{"serve", "--endpoint", sock}, code: 2, stderr: `unknown command "serve"`},
		{name: "help", args: []string{"--help"}, code: 0, stderr: `usage: vault-azure-csi-provider(.|\n)*-vault-addr`},
		{name: "mount help", args: []string{"mount", "-h"}, code: 0, stderr: `-spc`},
		{name: "unknown flag", args: []string{"--no-such-flag"}, code: 2, stderr: `flag provided but not defined: -no-such-flag`},
		{name: "version", args: []string{"--version"}, code: 0,
			stdout: `^vault-azure-csi-provider dev \(commit [^,]+, ` + regexp.QuoteMeta(runtime.Version()) + `, ` + runtime.GOOS + `/` + runtime.GOARCH + `\)\n$`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runWith(tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			for _, out := range []struct {
				name, re, got string
			}{{"stdout", tc.stdout, stdout.String()}, {"stderr", tc.stderr, stderr.String()}} {
				if out.re == "" && out.got != "" {
					t.Errorf("%s = %q, want nothing", out.name, out.got)
				}
				if out.re != "" && !regexp.MustCompile(out.re).MatchString(out.got) {
					t.Errorf("%s = %q, want %s", out.name, truncate(out.got), out.re)
				}
			}
			if _, err := os.Stat(filepath.Dir(sock)); err == nil {
				t.Errorf("the socket's directory was created: the provider started")
			}
		})
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return strings.TrimSpace(s)
}
