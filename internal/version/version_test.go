package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/deploybot/deploybot", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	tests := []struct {
		name                   string
		version, commit, date  string
		bi                     *debug.BuildInfo
		wantV, wantC, wantDate string
	}{
		{"ldflags win", "v1.2.3", "abc", "2026-01-01T00:00:00Z", vcs, "v1.2.3", "abc", "2026-01-01T00:00:00Z"},
		{"build info fallback", "", "", "", vcs, "v0.3.0", "0123456789abcdef0123456789abcdef01234567-dirty", "2025-01-02T03:04:05Z"},
		{"devel build", "", "", "", devel, "devel", "unknown", "unknown"},
		{"no build info", "", "", "", nil, "devel", "unknown", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.version, tt.commit, tt.date, tt.bi)
			if got.Version != tt.wantV || got.Commit != tt.wantC || got.Date != tt.wantDate {
				t.Errorf("resolve = %+v, want version %q commit %q date %q", got, tt.wantV, tt.wantC, tt.wantDate)
			}
			if got.GoVersion != runtime.Version() {
				t.Errorf("GoVersion = %q, want %q", got.GoVersion, runtime.Version())
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	tests := []struct {
		in   Info
		want string
	}{
		{Info{Version: "v1.2.3", Commit: "0123456789abcdef0123", Date: "2025-01-02T03:04:05Z"}, "v1.2.3 (commit 0123456789ab, built 2025-01-02T03:04:05Z)"},
		{Info{Version: "v1.2.3", Commit: "0123456789abcdef0123-dirty", Date: "d"}, "v1.2.3 (commit 0123456789ab-dirty, built d)"},
		{Info{Version: "devel", Commit: "unknown", Date: "unknown"}, "devel (commit unknown, built unknown)"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestVarsOverride(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v9.9.9"
	if s := String(); !strings.HasPrefix(s, "v9.9.9 (") {
		t.Errorf("String() = %q, want it to start with the -X version", s)
	}
}
