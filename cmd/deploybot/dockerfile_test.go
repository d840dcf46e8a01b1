package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/version"
)

// TestDockerfile checks what no Docker engine here can: the runtime user is
// numeric (a pod with runAsNonRoot cannot verify a name), the build stamps
// exactly the variables internal/version has, labels are OCI's, the Go of
// the build stage is go.mod's, and the context leaves out what it must.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	users := regexp.MustCompile(`(?m)^USER (.+)$`).FindAllStringSubmatch(df, -1)
	if len(users) != 1 || users[0][1] != "65532:65532" {
		t.Errorf("USER lines %v, want one numeric USER 65532:65532", users)
	}
	_ = []string{version.Version, version.Commit, version.Date} // the stamped variables exist
	var stamped []string
	for _, m := range regexp.MustCompile(`-X github\.com/deploybot/deploybot/internal/version\.(\w+)=\$\{(\w+)\}`).FindAllStringSubmatch(df, -1) {
		stamped = append(stamped, m[1])
		if !strings.Contains(df, "ARG "+m[2]) {
			t.Errorf("-X %s uses ${%s}, which no ARG declares", m[1], m[2])
		}
	}
	if !slices.Equal(stamped, []string{"Version", "Commit", "Date"}) {
		t.Errorf("the build stamps %v, want Version, Commit and Date", stamped)
	}
	for _, label := range []string{"title", "description", "source", "version", "revision", "created"} {
		if !strings.Contains(df, "org.opencontainers.image."+label+"=") {
			t.Errorf("no OCI label org.opencontainers.image.%s", label)
		}
	}
	for _, mount := range []string{"--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build"} {
		if !strings.Contains(df, mount) {
			t.Errorf("the build lacks the cache mount %s", mount)
		}
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.Contains(df, "FROM golang:"+string(goVersion[1])+"-") {
		t.Errorf("the build stage's Go is not go.mod's %s", goVersion)
	}

	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ignore), "\n")
	for _, want := range []string{".git", "bin", ".deploybot", ".env"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
	// What the build needs must stay in the context.
	for _, need := range []string{"go.mod", "go.sum", "cmd", "internal", "gateway", "worker", "workflows", "activities"} {
		if slices.Contains(lines, need) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", need)
		}
	}
}
