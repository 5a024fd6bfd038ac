package manifests

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

// TestChartReadmeDocumentsEveryValue: every value of values.yaml is named
// (as `path`) in the chart's README, or its parent is.
func TestChartReadmeDocumentsEveryValue(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(ChartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ReadValuesFile(filepath.Join(ChartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	missing := undocumented(string(readme), "", vals.AsMap())
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("values not documented in the chart README: %s", strings.Join(missing, ", "))
	}
	if len(documented(string(readme))) < 40 {
		t.Errorf("the README's values table has only %d entries", len(documented(string(readme))))
	}
}

func undocumented(readme, prefix string, m map[string]any) []string {
	var out []string
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if strings.Contains(readme, "| `"+path+"` |") {
			continue
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			out = append(out, undocumented(readme, path, sub)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

func documented(readme string) []string {
	var rows []string
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows = append(rows, line)
		}
	}
	return rows
}
