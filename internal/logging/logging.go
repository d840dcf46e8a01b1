// Package logging builds deploybot's slog logger from LOG_LEVEL and
// LOG_FORMAT, so every subcommand logs the same way.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Levels lists the accepted LOG_LEVEL values, lowest first.
var Levels = []string{"debug", "info", "warn", "error"}

// Formats lists the accepted LOG_FORMAT values.
var Formats = []string{"text", "json"}

// ParseLevel turns a LOG_LEVEL value into a slog level. It is
// case-insensitive, accepts "warning" for "warn", and "" means info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q is not one of %s", s, strings.Join(Levels, ", "))
}

// ParseFormat normalises a LOG_FORMAT value to "text" or "json"; "" means text.
func ParseFormat(s string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case "", "text":
		return "text", nil
	case "json":
		return f, nil
	}
	return "", fmt.Errorf("log format %q is not one of %s", s, strings.Join(Formats, ", "))
}

// New returns a logger that writes to w at the given level ("debug", "info",
// "warn", "error") in the given format ("text" or "json").
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	f, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if f == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
