package slackui

import (
	"fmt"
	"strings"

	"github.com/deploybot/deploybot/internal/contract"
)

// freezeTarget names a freeze's target in a sentence, the names in it as
// name shows them: code for Slack, asIs for the Temporal UI.
func freezeTarget(t string, name func(string) string) string {
	switch {
	case t == contract.FreezeAll:
		return "every app"
	case strings.HasPrefix(t, contract.FreezeProjectPrefix):
		return "the apps of project " + name(strings.TrimPrefix(t, contract.FreezeProjectPrefix))
	}
	return name(t)
}

// asIs shows a name as it is, for text without markup.
func asIs(s string) string { return s }

// FreezeStarted answers `freeze`.
func FreezeStarted(f contract.Freeze) string {
	return fmt.Sprintf(":ice_cube: %s froze %s until %s: %s. Every change is refused until then (a break-glass sync may override); `unfreeze %s` lifts it.",
		f.By.Mention(), freezeTarget(f.Target, code), slackDate(f.Until), Escape(f.Reason), f.Target)
}

// AlreadyFrozen answers a `freeze` of a target that is frozen already.
func AlreadyFrozen(f contract.Freeze) string {
	return fmt.Sprintf(":ice_cube: %s is already frozen until %s by %s: %s. `unfreeze %s` first to set another freeze.",
		freezeTarget(f.Target, code), slackDate(f.Until), f.By.Mention(), Escape(f.Reason), f.Target)
}

// NotFrozen answers `unfreeze` of a target that is not frozen.
func NotFrozen(target string) string {
	return fmt.Sprintf(":information_source: %s is not frozen; `freezes` lists the freezes in force.", freezeTarget(target, code))
}

// FreezeLifted says who lifted a freeze.
func FreezeLifted(f contract.Freeze, by contract.User) string {
	return fmt.Sprintf(":sunny: %s lifted the freeze of %s (%s, set by %s).", by.Mention(), freezeTarget(f.Target, code), Escape(f.Reason), f.By.Mention())
}

// FreezeEnded says a freeze ran its course.
func FreezeEnded(f contract.Freeze) string {
	return fmt.Sprintf(":sunny: The freeze of %s set by %s (%s) has ended; changes may be asked for again.", freezeTarget(f.Target, code), f.By.Mention(), Escape(f.Reason))
}

// FreezeDetails is a freeze run's current details in the Temporal UI.
func FreezeDetails(f contract.Freeze) string {
	return fmt.Sprintf("Freezing %s until %s, set by %s: %s", freezeTarget(f.Target, asIs), plainDate(f.Until), PlainWho(f.By), contract.CleanName(f.Reason))
}

// FreezeSummary is a freeze run's line in the Temporal UI's run list.
func FreezeSummary(f contract.Freeze) string {
	return fmt.Sprintf("freeze %s until %s, by %s", f.Target, plainDate(f.Until), PlainWho(f.By))
}

// FrozenRefusal refuses a change of app while a freeze holds.
func FrozenRefusal(requester contract.User, what, app string, f contract.Freeze) string {
	return fmt.Sprintf(":ice_cube: %s, `%s` was not started: %s is frozen until %s by %s: %s. Ask after it ends, or ask %s to `unfreeze %s`.",
		requester.Mention(), Escape(what), freezeTarget(f.Target, code), slackDate(f.Until), f.By.Mention(), Escape(f.Reason), f.By.Mention(), f.Target)
}

// FreezeOverridden is the loud note on a break-glass sync that a freeze
// would have stopped.
func FreezeOverridden(f contract.Freeze) string {
	return fmt.Sprintf(":rotating_light: This break-glass sync overrides the freeze of %s until %s set by %s: %s.",
		freezeTarget(f.Target, code), slackDate(f.Until), f.By.Mention(), Escape(f.Reason))
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
		lines = append(lines, fmt.Sprintf("• %s until %s, by %s: %s", freezeTarget(f.Target, code), slackDate(f.Until), f.By.Mention(), Escape(f.Reason)))
	}
	return strings.Join(lines, "\n")
}

// NotAllowedToFreeze refuses `freeze` or `unfreeze` of target (what is the
// command) to someone the approval policy does not let hold back others'
// changes: of an app, someone who may ask for a sync of it; of a project or
// of all, a requester of every rule their changes may get. missing are the
// rules requester is not a requester of (for an app, every rule a sync of
// it may get).
func NotAllowedToFreeze(requester contract.User, what, target string, missing []contract.ApprovalRule) string {
	var takes, see string
	switch {
	case target == contract.FreezeAll:
		takes, see = "a requester of every deploy rule", "`policy APP` shows who may ask for an app's changes."
	case strings.HasPrefix(target, contract.FreezeProjectPrefix):
		takes, see = "a requester of every rule a change of them may get", "`policy APP` shows who may ask for an app's changes."
	default:
		takes, see = "someone who may ask for a sync of it", fmt.Sprintf("`policy %s` shows who may ask.", Escape(target))
	}
	rules := make([]string, len(missing))
	for i, r := range missing {
		rules[i] = ruleAndRequesters(r)
	}
	return fmt.Sprintf(":no_entry: %s, you may not ask for `%s`: a freeze of %s holds back everyone's changes, so setting or lifting one takes %s, and you are not a requester of %s. %s",
		requester.Mention(), Escape(what), freezeTarget(target, code), takes, orList(rules), see)
}

// ruleAndRequesters reads `rule "payments" (APPROVAL_POLICY_FILE line 4:
// @payments-leads)`, `the environment's rule (ALLOWED_USERS: <@U0ALICE>)`.
func ruleAndRequesters(rule contract.ApprovalRule) string {
	who := requesters(rule.Requesters)
	if who == "" {
		who = "nobody"
	}
	if rule.Name == contract.DefaultRuleName && rule.Line == 0 {
		return "the environment's rule (ALLOWED_USERS: " + who + ")"
	}
	where := fmt.Sprintf("rule %q", rule.Name)
	if rule.Line > 0 {
		return fmt.Sprintf("%s (APPROVAL_POLICY_FILE line %d: %s)", where, rule.Line, who)
	}
	return where + " (" + who + ")"
}

// orList reads "a", "a or b", "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// SyncWindow is one of Argo CD's active sync windows, as it names it.
type SyncWindow struct{ Kind, Schedule, Duration string }

// SyncWindowsBlocking names the sync windows that stop a sync now, for
// SyncWindowRefusal; none named: Argo CD said no without saying which.
func SyncWindowsBlocking(ws []SyncWindow) string {
	if len(ws) == 0 {
		return "a sync window of the app's project"
	}
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = fmt.Sprintf("%s %q for %s", w.Kind, w.Schedule, w.Duration)
	}
	return strings.Join(names, ", ")
}

// FreezeWithoutDetails is the reason shown for a running freeze whose
// details cannot be read: frozen anyway, rather than let a change through.
func FreezeWithoutDetails(workflowID string) string {
	return "a freeze run without its details (" + workflowID + ")"
}
