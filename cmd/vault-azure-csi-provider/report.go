package main

import (
	"fmt"
	"io"
	"strings"
)

// report prints the mount command's checks: one line per step with ✓, ✗ or
// "-" (skipped), and for a failure the error, the reason and the fix.
type report struct {
	out    io.Writer
	failed bool
}

// explanation says why a step failed and how to fix it.
type explanation struct {
	why string
	fix string
}

func (r *report) ok(step, detail string) {
	fmt.Fprintf(r.out, "✓ %s: %s\n", step, detail)
}

func (r *report) skip(step, reason string) {
	fmt.Fprintf(r.out, "- %s: skipped (%s)\n", step, reason)
}

// fail prints the failed step with the error as the provider reports it and
// the explanation.
func (r *report) fail(step string, err error, e explanation) {
	r.failed = true
	fmt.Fprintf(r.out, "✗ %s\n", step)
	if err != nil {
		fmt.Fprintf(r.out, "    error: %s\n", oneLineText(err.Error()))
	}
	if e.why != "" {
		fmt.Fprintf(r.out, "    why:   %s\n", e.why)
	}
	if e.fix != "" {
		fmt.Fprintf(r.out, "    fix:   %s\n", indentFix(e.fix))
	}
}

func oneLineText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// indentFix aligns the continuation lines of a multi-line fix.
func indentFix(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n           ")
}
