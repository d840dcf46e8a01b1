package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		level, format string
		wantDebug     bool
		wantInfo      bool
		wantJSON      bool
	}{
		{"", "", false, true, false},
		{"debug", "text", true, true, false},
		{"INFO", "JSON", false, true, true},
		{"warn", "json", false, false, true},
		{"warning", "", false, false, false},
		{"error", "text", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New(&buf, tt.level, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("d-msg")
			log.Info("i-msg", "k", "v")
			out := buf.String()
			if got := strings.Contains(out, "d-msg"); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v; output %q", got, tt.wantDebug, out)
			}
			if got := strings.Contains(out, "i-msg"); got != tt.wantInfo {
				t.Errorf("info logged = %v, want %v; output %q", got, tt.wantInfo, out)
			}
			if tt.wantInfo {
				line := strings.TrimSpace(strings.Split(strings.TrimSpace(out), "\n")[0])
				isJSON := json.Valid([]byte(line))
				if isJSON != tt.wantJSON {
					t.Errorf("JSON output = %v, want %v: %q", isJSON, tt.wantJSON, line)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct{ level, format, want string }{
		{"verbose", "text", `log level "verbose" is not one of debug, info, warn, error`},
		{"info", "logfmt", `log format "logfmt" is not one of text, json`},
	}
	for _, tt := range tests {
		if _, err := New(&bytes.Buffer{}, tt.level, tt.format); err == nil || err.Error() != tt.want {
			t.Errorf("New(%q, %q) error = %v, want %q", tt.level, tt.format, err, tt.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, " Info ": slog.LevelInfo, "WARN": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
