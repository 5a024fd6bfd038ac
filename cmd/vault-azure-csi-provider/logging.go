package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// setupLogging selects the log format: klog's text lines, or JSON lines
// with the fields of Kubernetes components' JSON format (ts in Unix
// milliseconds, caller, msg, v on info lines, err on errors, then the
// key/value pairs), on stderr. klog still decides what is logged (-v,
// -vmodule); the JSON lines are written by the standard library's
// log/slog, which costs the start-up nothing.
func setupLogging(format string) error {
	switch format {
	case "", "text":
		return nil
	case "json":
		klog.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{
			AddSource:   true,
			Level:       slog.Level(-128), // klog has filtered by verbosity already
			ReplaceAttr: kubernetesJSON,
		})))
		return nil
	}
	return fmt.Errorf("--log-format %q: use text or json", format)
}

// kubernetesJSON renames slog's built-in fields to those of Kubernetes
// components' JSON logs.
func kubernetesJSON(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		t := a.Value.Time()
		return slog.Float64("ts", float64(t.UnixNano())/float64(time.Millisecond))
	case slog.LevelKey:
		l, _ := a.Value.Any().(slog.Level)
		if l >= slog.LevelError {
			return slog.Attr{} // error lines carry err, not v
		}
		return slog.Int("v", -int(l))
	case slog.SourceKey:
		src, ok := a.Value.Any().(*slog.Source)
		if !ok || src == nil {
			return slog.Attr{}
		}
		return slog.String("caller", filepath.Base(filepath.Dir(src.File))+"/"+filepath.Base(src.File)+":"+strconv.Itoa(src.Line))
	}
	return a
}
