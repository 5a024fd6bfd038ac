package mlog

import (
	"context"
	"testing"

	"k8s.io/klog/v2"
)

func TestValidateAndSetKlogLevelAndFormatGlobally(t *testing.T) {
	for _, c := range []struct {
		level  klog.Level
		format LogFormat
		ok     bool
	}{
		{0, FormatText, true},
		{5, FormatText, true},
		{-1, FormatText, false},
		{2, FormatJSON, false}, // the stand-in writes text only: refuse, do not ignore
		{2, "xml", false},
	} {
		err := ValidateAndSetKlogLevelAndFormatGlobally(context.Background(), c.level, c.format)
		if (err == nil) != c.ok {
			t.Errorf("level %d format %q: err %v, want ok=%v", c.level, c.format, err, c.ok)
		}
	}
	Setup()()
}
