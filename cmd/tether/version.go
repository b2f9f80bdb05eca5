package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time by `make build`:
// -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version string
	commit  string
)

// buildInfo identifies the running binary.
type buildInfo struct {
	Version, Commit, GoVersion string
	// Modified: built from a work tree with uncommitted changes (known
	// only when the Go toolchain stamped VCS information).
	Modified bool
}

// currentBuild combines the link-time values with what the Go toolchain
// recorded (runtime/debug.ReadBuildInfo): the module version of a `go
// install …@version`, and the VCS revision of a build with -buildvcs.
func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func (b buildInfo) String() string {
	dirty := ""
	if b.Modified {
		dirty = ", modified"
	}
	return fmt.Sprintf("tether %s (commit %s%s, %s)", b.Version, b.Commit, dirty, b.GoVersion)
}
