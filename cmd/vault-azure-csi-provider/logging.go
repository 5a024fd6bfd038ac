package main

import (
	"fmt"
	"os"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

// setupLogging selects klog's text output or JSON lines on stderr.
func setupLogging(format string) error {
	switch format {
	case "", "text":
		return nil
	case "json":
		logger := funcr.NewJSON(func(obj string) { fmt.Fprintln(os.Stderr, obj) },
			funcr.Options{LogTimestamp: true, LogCaller: funcr.Error, Verbosity: 10})
		klog.SetLogger(logger)
		return nil
	}
	return fmt.Errorf("--log-format %q: use text or json", format)
}
