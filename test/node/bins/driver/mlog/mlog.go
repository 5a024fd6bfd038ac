// Package mlog stands in for monis.app/mlog, which the Go module proxy does
// not serve. It offers exactly what the Secrets Store CSI Driver v1.6 calls,
// backed by klog: the driver's log lines look as they do with the real mlog
// in text format.
package mlog

import (
	"context"
	"fmt"
	"os"

	"k8s.io/klog/v2"
)

// LogFormat names an output format of the driver's logs.
type LogFormat string

// The formats the driver chooses between (--log-format-json).
const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// Setup prepares logging and returns the function that flushes it.
func Setup() func() {
	return klog.Flush
}

// ValidateAndSetKlogLevelAndFormatGlobally checks the verbosity and format.
// klog's own flags already carry the level; JSON output is not offered by
// this stand-in and is refused rather than silently ignored.
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, level klog.Level, format LogFormat) error {
	if level < 0 {
		return fmt.Errorf("mlog: invalid log level %d", level)
	}
	switch format {
	case FormatText:
		return nil
	case FormatJSON:
		return fmt.Errorf("mlog: the stand-in for monis.app/mlog writes text only; drop --log-format-json")
	default:
		return fmt.Errorf("mlog: unknown log format %q", format)
	}
}

// Error logs err with a message and key/value pairs.
func Error(msg string, err error, keysAndValues ...any) {
	klog.ErrorSDepth(1, err, msg, keysAndValues...)
}

// Fatal logs err and exits with status 1.
func Fatal(err error, keysAndValues ...any) {
	klog.ErrorSDepth(1, err, "fatal error", keysAndValues...)
	klog.Flush()
	os.Exit(1)
}
