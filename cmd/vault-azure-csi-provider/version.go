package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time (make build: -X main.version=
// from the chart's appVersion, -X main.commit= from git); a plain go build
// reports "dev" and the commit Go recorded, if any.
var (
	version = "dev"
	commit  = ""
)

// buildCommit is the commit the binary was built from: the one set at
// build time, else Go's VCS stamp ("-dirty" with uncommitted changes).
func buildCommit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "unknown", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// versionLine is what --version prints.
func versionLine() string {
	return fmt.Sprintf("vault-azure-csi-provider %s (commit %s, %s, %s/%s)", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
