package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/version"
)

// execute runs the deploybot command line in-process against a fake
// environment and returns what it printed and its exit code.
func execute(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx := withLookup(context.Background(), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestRootHelp(t *testing.T) {
	out, errOut, code := execute(t, nil, "--help")
	if code != 0 || errOut != "" {
		t.Fatalf("--help: code %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Argo CD", "Slack", "Temporal", "gateway", "worker", "argocd-sim", "dev", "config check", "version", "Available Commands"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %q:\n%s", want, out)
		}
	}
}

func TestErrorsPrintedOnce(t *testing.T) {
	tests := []struct {
		args       []string
		wantStderr string
	}{
		{[]string{"bogus"}, "deploybot: unknown command \"bogus\" for \"deploybot\"\n"},
		{[]string{"version", "extra"}, "deploybot: unknown command \"extra\" for \"deploybot version\"\n"},
		{[]string{"config", "check", "--for", "nope"}, "deploybot: --for \"nope\": unknown role \"nope\"; use gateway, worker, argocd-sim, dev, playground or all\n"},
		{[]string{"config", "check", "--no-such-flag"}, "deploybot: unknown flag: --no-such-flag\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := execute(t, nil, tt.args...)
			if code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if errOut != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", errOut, tt.wantStderr)
			}
			if strings.Contains(out+errOut, "Usage:") || strings.Contains(out+errOut, "Error:") {
				t.Errorf("cobra printed usage or its own error:\nstdout: %s\nstderr: %s", out, errOut)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, errOut, code := execute(t, nil, "version")
	if code != 0 || errOut != "" {
		t.Fatalf("version: code %d, stderr %q", code, errOut)
	}
	v := version.Get()
	want := "deploybot " + v.Version + "\ncommit:  " + v.Commit + "\nbuilt:   " + v.Date + "\ngo:      " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if out != want {
		t.Errorf("version output:\n%s\nwant:\n%s", out, want)
	}
	out, _, code = execute(t, nil, "--version")
	if want := "deploybot " + version.String() + "\n"; code != 0 || out != want {
		t.Errorf("--version: code %d, output %q, want %q", code, out, want)
	}
}
