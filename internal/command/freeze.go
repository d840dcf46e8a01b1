package command

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// The freeze commands' grammar is not positional words, so they parse,
// print and check themselves:
//
//	freeze TARGET for 2h|30m|3d REASON
//	freeze TARGET until 2026-12-24|2026-12-24T18:00 REASON
//	unfreeze TARGET
//
// TARGET is an app, project:NAME or all; REASON is kept as typed.

// untilLayouts are the ends `until` takes, read as UTC.
var untilLayouts = []string{"2006-01-02T15:04Z07:00", "2006-01-02T15:04Z", "2006-01-02T15:04", "2006-01-02"}

// untilFormat prints an end so that it parses back the same.
const untilFormat = "2006-01-02T15:04Z"

// FreezeTarget is the freeze command's target: an app, project:NAME or all.
func (c Command) FreezeTarget() string {
	switch {
	case c.Arg == contract.FreezeAll:
		return contract.FreezeAll
	case c.Project != "":
		return contract.FreezeProjectPrefix + c.Project
	}
	return c.App
}

// setTarget reads a freeze target word.
func (c *Command) setTarget(w string) *Error {
	sp := specs[c.Name]
	switch {
	case w == contract.FreezeAll:
		c.Arg = contract.FreezeAll
	case strings.HasPrefix(w, contract.FreezeProjectPrefix):
		p := strings.TrimPrefix(w, contract.FreezeProjectPrefix)
		if err := contract.ValidateProjectName(p); err != nil {
			return errorf(c.Name, "%v: write %s, e.g. %s", err, sp.Usage, sp.Example)
		}
		c.Project = p
	default:
		if err := contract.ValidateAppName(w); err != nil {
			return errorf(c.Name, "%v; a target is an app, project:NAME or all: write %s, e.g. %s", err, sp.Usage, sp.Example)
		}
		c.App = w
	}
	return nil
}

func parseFreeze(c *Command, args []string, text string) *Error {
	sp := specs[c.Name]
	if len(args) == 0 {
		return errorf(c.Name, "%s needs a target (an app, project:NAME or all): write %s, e.g. %s", c.Name, sp.Usage, sp.Example)
	}
	if err := c.setTarget(args[0]); err != nil {
		return err
	}
	if c.Name == Unfreeze {
		if len(args) > 1 {
			return errorf(c.Name, "too many words after unfreeze: %q is extra. Write %s, e.g. %s", strings.Join(args[1:], " "), sp.Usage, sp.Example)
		}
		return nil
	}
	if len(args) < 3 {
		return errorf(c.Name, "freeze needs how long and why: write %s, e.g. %s", sp.Usage, sp.Example)
	}
	switch args[1] {
	case "for":
		d, ok := freezeDuration(args[2])
		if !ok {
			return errorf(c.Name, "%q is not how long to freeze: use minutes, hours or days, e.g. 30m, 2h or 3d", args[2])
		}
		c.For = d
	case "until":
		t, ok := freezeUntil(args[2])
		if !ok {
			return errorf(c.Name, "%q is not when the freeze ends: write a date or a UTC time, e.g. 2026-12-24 or 2026-12-24T18:00", args[2])
		}
		c.Until = t
	default:
		return errorf(c.Name, "freeze takes for DURATION or until DATE after the target, not %q: write %s, e.g. %s", args[1], sp.Usage, sp.Example)
	}
	c.Reason = freezeReason(text)
	if c.Reason == "" {
		return errorf(c.Name, "freeze needs a reason after %s %s, for everyone it stops: e.g. %s", args[1], args[2], sp.Example)
	}
	return c.checkFreeze()
}

// checkFreeze is what Validate checks of a freeze command.
func (c Command) checkFreeze() *Error {
	if err := contract.ValidateFreezeTarget(c.FreezeTarget()); err != nil || c.App != "" && (c.Project != "" || c.Arg != "") || c.HistoryID != 0 || c.Count != 0 || c.Emergency != "" {
		return errorf(c.Name, "%s takes one target: an app, project:NAME or all", c.Name)
	}
	if c.Name == Unfreeze {
		if c.For != 0 || !c.Until.IsZero() || c.Reason != "" {
			return errorf(c.Name, "unfreeze takes only a target")
		}
		return nil
	}
	switch {
	case (c.For == 0) == c.Until.IsZero():
		return errorf(c.Name, "freeze takes for DURATION or until DATE")
	case c.For < 0 || c.For > contract.MaxFreeze:
		return errorf(c.Name, "a freeze lasts at most %s", contract.FormatDuration(contract.MaxFreeze))
	case !c.Until.IsZero() && (c.Until.Location() != time.UTC || c.Until.Second() != 0 || c.Until.Nanosecond() != 0):
		return errorf(c.Name, "until is a UTC time to the minute")
	case c.Reason == "" || strings.TrimSpace(c.Reason) != c.Reason:
		return errorf(c.Name, "freeze needs a reason")
	}
	return nil
}

func formatFreeze(c Command) string {
	words := []string{string(c.Name), c.FreezeTarget()}
	switch {
	case c.For != 0:
		words = append(words, "for", contract.FormatDuration(c.For))
	case !c.Until.IsZero():
		words = append(words, "until", c.Until.Format(untilFormat))
	}
	if c.Reason != "" {
		words = append(words, c.Reason)
	}
	return strings.Join(words, " ")
}

// freezeDuration reads 30m, 2h, 2h30m or 3d.
func freezeDuration(s string) (time.Duration, bool) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, false
		}
		s = strconv.Itoa(days*24) + "h"
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Minute || d > contract.MaxFreeze || d%time.Minute != 0 {
		return 0, false
	}
	return d, true
}

func freezeUntil(s string) (time.Time, bool) {
	for _, l := range untilLayouts {
		if t, err := time.Parse(l, strings.ToUpper(s)); err == nil {
			return t.UTC().Truncate(time.Minute), true
		}
	}
	return time.Time{}, false
}

// freezeReason is the text after the duration or date as typed (case kept,
// Slack's entities resolved, spaces collapsed, no angle brackets: they
// would read as Slack entities when the reason is shown).
func freezeReason(text string) string {
	m := freezeReasonRE.FindStringSubmatch(htmlUnescaper.Replace(resolveEntities(text)))
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(strings.NewReplacer("<", " ", ">", " ").Replace(m[1])), " ")
}

var freezeReasonRE = regexp.MustCompile(`(?is)\b(?:for|until)\s+\S+\s+(.*)$`)
