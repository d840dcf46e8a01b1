// Package version reports which build of deploybot is running. Release
// builds set the variables with
//
//	-ldflags "-X github.com/deploybot/deploybot/internal/version.Version=v1.2.3
//	          -X github.com/deploybot/deploybot/internal/version.Commit=$(git rev-parse HEAD)
//	          -X github.com/deploybot/deploybot/internal/version.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// Other builds (go install, go build in a checkout) fall back to what the Go
// toolchain recorded in the binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is the release version, e.g. v1.2.3; set with -ldflags -X.
var Version string

// Commit is the git commit the binary was built from; set with -ldflags -X.
var Commit string

// Date is the build time, RFC 3339; set with -ldflags -X.
var Date string

// Info describes the running build.
type Info struct {
	Version   string // "devel" when unknown
	Commit    string // "unknown" when unknown; "-dirty" marks local changes
	Date      string // "unknown" when unknown
	GoVersion string // e.g. go1.26.8
	Platform  string // e.g. linux/amd64
}

// Get returns the build information: the -ldflags values where set, else
// what debug.ReadBuildInfo recorded.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return resolve(Version, Commit, Date, bi)
}

// String is a one-line description, e.g. "v1.2.3 (commit 0123456789ab, built 2025-01-02T03:04:05Z)".
func String() string { return Get().String() }

// String is a one-line description of i with the commit shortened.
func (i Info) String() string {
	commit, dirty := strings.CutSuffix(i.Commit, "-dirty")
	if len(commit) > 12 {
		commit = commit[:12] // enough to find it in git
	}
	if dirty {
		commit += "-dirty"
	}
	return fmt.Sprintf("%s (commit %s, built %s)", i.Version, commit, i.Date)
}

func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version // go install module@version
		}
		var revision, modified, vcsTime string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			case "vcs.time":
				vcsTime = s.Value
			}
		}
		if info.Commit == "" && revision != "" {
			info.Commit = revision
			if modified == "true" {
				info.Commit += "-dirty"
			}
		}
		if info.Date == "" {
			info.Date = vcsTime // commit time: the closest to a build date the toolchain records
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}
