package harness

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Container logs in the CRI format: partial (P) lines join the next ones.
func TestReadCRILog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	text := "2026-11-28T13:00:00.000000001Z stdout F {\"env\":\"A\"}\n" +
		"2026-11-28T13:00:00.000000002Z stdout P {\"file\":\n" +
		"2026-11-28T13:00:00.000000003Z stdout F \"x\"}\n" +
		"2026-11-28T13:00:00.000000004Z stderr F with spaces  inside\n" +
		"2026-11-28T13:00:00.000000005Z stdout F\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readCRILog(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"env":"A"}`, `{"file":"x"}`, "with spaces  inside", ""}
	if !slices.Equal(got, want) {
		t.Errorf("readCRILog = %q, want %q", got, want)
	}
}
