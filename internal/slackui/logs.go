package slackui

import (
	"fmt"
	"strings"
)

// PodLines are one pod's log lines; Pod "" holds Argo CD's own messages.
type PodLines struct {
	Pod   string
	Lines []string
}

// NoLogs answers `logs APP` when there is nothing to show.
func NoLogs(app string) string {
	return fmt.Sprintf(":information_source: %s has no pod logs to show (no pods, or they logged nothing).", code(app))
}

// LogsTitle is the uploaded logs file's title; at (a UTC time) makes it
// unique to the run.
func LogsTitle(app, at string) string { return fmt.Sprintf("Logs of %s at %s", app, at) }

// LogsFile is the uploaded file: every pod's lines under a header naming it.
func LogsFile(app string, tail int64, pods []PodLines, lines, omitted int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Logs of %s: last %d lines of each of %d pods (%d lines)\n", app, tail, len(pods), lines)
	if omitted > 0 {
		fmt.Fprintf(&b, "# %d older lines left out to keep this file small\n", omitted)
	}
	for _, p := range pods {
		name := "pod " + p.Pod
		if p.Pod == "" {
			name = "(not from a pod: Argo CD's own messages)"
		}
		fmt.Fprintf(&b, "\n==> %s (%d lines) <==\n", name, len(p.Lines))
		for _, l := range p.Lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// LogsComment is the message the logs file is shared with.
func LogsComment(app string, tail int64, pods, lines, omitted int) string {
	s := fmt.Sprintf(":page_facing_up: Logs of %s: last %d lines of each of %d %s, %d %s in all.",
		code(app), tail, pods, "pod"+plural(pods), lines, "line"+plural(lines))
	if omitted > 0 {
		s += fmt.Sprintf(" %d older lines were left out to keep the file small.", omitted)
	}
	return s
}

// CommandFailed tells the asker why a read command could not answer:
// theirs to fix (userError) or an outage.
func CommandFailed(command, msg string, userError bool) string {
	if userError {
		return fmt.Sprintf(":x: `%s` failed: %s", Escape(command), Escape(msg))
	}
	return fmt.Sprintf(":warning: `%s` could not get an answer: %s", Escape(command), Escape(msg))
}

// GatePassed is the outcome of a passing analysis that superseded n
// pending requests of older ones.
func GatePassed(n int) string {
	msg := "The quality gate passed: nothing to decide."
	if n > 0 {
		msg += fmt.Sprintf(" %d pending %s of older analyses told.", n, "request"+plural(n))
	}
	return msg
}
