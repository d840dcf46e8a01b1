package slackui

import (
	"fmt"
	"strings"

	"github.com/deploybot/deploybot/internal/contract"
)

// freezeTarget names a freeze's target in a sentence.
func freezeTarget(t string) string {
	switch {
	case t == contract.FreezeAll:
		return "every app"
	case strings.HasPrefix(t, contract.FreezeProjectPrefix):
		return "the apps of project " + code(strings.TrimPrefix(t, contract.FreezeProjectPrefix))
	}
	return code(t)
}

// plainTarget is freezeTarget without markup, for the Temporal UI.
func plainTarget(t string) string {
	switch {
	case t == contract.FreezeAll:
		return "every app"
	case strings.HasPrefix(t, contract.FreezeProjectPrefix):
		return "the apps of project " + strings.TrimPrefix(t, contract.FreezeProjectPrefix)
	}
	return t
}

// FreezeStarted answers `freeze`.
func FreezeStarted(f contract.Freeze) string {
	return fmt.Sprintf(":ice_cube: %s froze %s until %s: %s. Every change is refused until then (a break-glass sync may override); `unfreeze %s` lifts it.",
		f.By.Mention(), freezeTarget(f.Target), slackDate(f.Until), Escape(f.Reason), f.Target)
}

// AlreadyFrozen answers a `freeze` of a target that is frozen already.
func AlreadyFrozen(f contract.Freeze) string {
	return fmt.Sprintf(":ice_cube: %s is already frozen until %s by %s: %s. `unfreeze %s` first to set another freeze.",
		freezeTarget(f.Target), slackDate(f.Until), f.By.Mention(), Escape(f.Reason), f.Target)
}

// NotFrozen answers `unfreeze` of a target that is not frozen.
func NotFrozen(target string) string {
	return fmt.Sprintf(":information_source: %s is not frozen; `freezes` lists the freezes in force.", freezeTarget(target))
}

// FreezeLifted says who lifted a freeze.
func FreezeLifted(f contract.Freeze, by contract.User) string {
	return fmt.Sprintf(":sunny: %s lifted the freeze of %s (%s, set by %s).", by.Mention(), freezeTarget(f.Target), Escape(f.Reason), f.By.Mention())
}

// FreezeEnded says a freeze ran its course.
func FreezeEnded(f contract.Freeze) string {
	return fmt.Sprintf(":sunny: The freeze of %s set by %s (%s) has ended; changes may be asked for again.", freezeTarget(f.Target), f.By.Mention(), Escape(f.Reason))
}

// FreezeDetails is a freeze run's current details in the Temporal UI.
func FreezeDetails(f contract.Freeze) string {
	return fmt.Sprintf("Freezing %s until %s, set by %s: %s", plainTarget(f.Target), plainDate(f.Until), PlainWho(f.By), contract.CleanName(f.Reason))
}

// FreezeSummary is a freeze run's line in the Temporal UI's run list.
func FreezeSummary(f contract.Freeze) string {
	return fmt.Sprintf("freeze %s until %s, by %s", f.Target, plainDate(f.Until), PlainWho(f.By))
}

// FrozenRefusal refuses a change of app while a freeze holds.
func FrozenRefusal(requester contract.User, what, app string, f contract.Freeze) string {
	return fmt.Sprintf(":ice_cube: %s, `%s` was not started: %s is frozen until %s by %s: %s. Ask after it ends, or ask %s to `unfreeze %s`.",
		requester.Mention(), Escape(what), freezeTarget(f.Target), slackDate(f.Until), f.By.Mention(), Escape(f.Reason), f.By.Mention(), f.Target)
}

// FreezeOverridden is the loud note on a break-glass sync that a freeze
// would have stopped.
func FreezeOverridden(f contract.Freeze) string {
	return fmt.Sprintf(":rotating_light: This break-glass sync overrides the freeze of %s until %s set by %s: %s.",
		freezeTarget(f.Target), slackDate(f.Until), f.By.Mention(), Escape(f.Reason))
}

// SyncWindowRefusal refuses a sync or rollback that Argo CD's sync
// windows stop now.
func SyncWindowRefusal(requester contract.User, what, windows string) string {
	return fmt.Sprintf(":no_entry: %s, `%s` was not started: blocked by Argo CD sync window %s. Ask when the window allows it, or have an Argo CD admin change the project's sync windows.",
		requester.Mention(), Escape(what), Escape(windows))
}

// FreezesText answers `freezes`.
func FreezesText(fs []contract.Freeze) string {
	if len(fs) == 0 {
		return ":sunny: No freezes are in force."
	}
	lines := []string{fmt.Sprintf(":ice_cube: *%d freeze%s in force:*", len(fs), plural(len(fs)))}
	for _, f := range fs {
		lines = append(lines, fmt.Sprintf("• %s until %s, by %s: %s", freezeTarget(f.Target), slackDate(f.Until), f.By.Mention(), Escape(f.Reason)))
	}
	return strings.Join(lines, "\n")
}
