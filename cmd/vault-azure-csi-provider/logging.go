package main

import (
	"flag"
	"fmt"

	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register" // the json log format
	"k8s.io/klog/v2"
)

// setupLogging selects the log format: klog's text lines, or the JSON lines
// of Kubernetes components (k8s.io/component-base/logs: ts, caller, msg, v,
// then the key/value pairs; err on errors), on stderr. fs holds klog's
// flags; the JSON logger takes its -v.
func setupLogging(format string, fs *flag.FlagSet) error {
	switch format {
	case "", "text":
		return nil
	case logsapi.JSONLogFormat:
		c := logsapi.NewLoggingConfiguration()
		c.Format = logsapi.JSONLogFormat
		c.Verbosity = klogVerbosity(fs)
		if err := logsapi.ValidateAndApply(c, nil); err != nil {
			return fmt.Errorf("--log-format json: %w", err)
		}
		return nil
	}
	return fmt.Errorf("--log-format %q: use text or json", format)
}

// klogVerbosity is the value of fs's -v flag (klog.InitFlags), 0 without one.
func klogVerbosity(fs *flag.FlagSet) logsapi.VerbosityLevel {
	if f := fs.Lookup("v"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if l, ok := g.Get().(klog.Level); ok {
				return logsapi.VerbosityLevel(l)
			}
		}
	}
	return 0
}
