package slackui

import (
	"fmt"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// The gateway's own replies: to a command it could not start or answer, and
// to a click it could not deliver. what is the command as deploybot reads
// it back (command.Command.String); err is what Temporal said.

// NotUnderstood answers a command that does not parse: why, then the help.
func NotUnderstood(why, help string) string {
	return fmt.Sprintf(":thinking_face: %s\n\n%s", Escape(why), help)
}

// Invalid answers a command that parses but cannot be done as written.
func Invalid(why string) string { return ":thinking_face: " + Escape(why) }

// UnknownInstance says that app names an Argo CD instance name this
// deploybot does not know. known are the instances it has, by name; with
// one unnamed instance (ARGOCD_URL) there is nothing to choose from.
// example is app without its instance, def the default instance.
func UnknownInstance(app, name string, known []string, example, def string) string {
	if len(known) == 0 || len(known) == 1 && known[0] == "" {
		return Invalid(fmt.Sprintf("%q names the Argo CD instance %q, but this deploybot has one Argo CD (ARGOCD_URL); drop @%s, or name instances in ARGOCD_INSTANCES_FILE", app, name, name))
	}
	return Invalid(fmt.Sprintf("%q names the Argo CD instance %q, which deploybot does not know: use one of %s, e.g. %s@%s (none means %s)",
		app, name, strings.Join(known, ", "), example, known[0], def))
}

// NoAnswer is the reply to a command the gateway should answer itself but
// has no answer for (a command added without one).
func NoAnswer(what string) string {
	return fmt.Sprintf(":x: I have no answer for `%s`. Tell your deploybot admins.", Escape(what))
}

// StartRefused says Temporal refused to start what.
func StartRefused(what, err string) string {
	return fmt.Sprintf(":x: I could not start `%s`: Temporal refused it (%s). Tell your deploybot admins.", Escape(what), Escape(err))
}

// HistoryRefused says Temporal refused to list app's runs for `history`.
func HistoryRefused(app, err string) string {
	return fmt.Sprintf(":x: I could not read the history of `%s`: Temporal refused the list (%s). Tell your deploybot admins.", Escape(app), Escape(err))
}

// ActiveRun is the run that holds an app when another change of it is
// asked for.
type ActiveRun struct {
	Action      string // what it does ("" = unknown)
	RequestedBy string // who asked for it, a Slack user id ("" = unknown)
	WorkflowID  string
	URL         string // its page in the Temporal UI ("" = none)
}

// AlreadyInProgress refuses what, a change of app, while run holds app.
func AlreadyInProgress(what, app string, run ActiveRun) string {
	active := "A deploybot run"
	if run.Action != "" {
		active = fmt.Sprintf("A `%s`", Escape(run.Action))
	}
	by := ""
	if run.RequestedBy != "" {
		by = fmt.Sprintf(" requested by <@%s>", run.RequestedBy)
	}
	where := fmt.Sprintf("workflow `%s`", run.WorkflowID)
	if run.URL != "" {
		where = fmt.Sprintf("<%s|%s>", run.URL, run.WorkflowID)
	}
	return fmt.Sprintf(":hourglass_flowing_sand: %s of *%s*%s is already in progress (%s), so `%s` was not started: one change per app at a time. Wait for it to finish, or reject it, then ask again.",
		active, Escape(app), by, where, Escape(what))
}

// TemporalBusy says Temporal did not answer within timeout, so what was
// not started.
func TemporalBusy(what string, timeout time.Duration) string {
	return fmt.Sprintf(":hourglass: Temporal, deploybot's workflow engine, did not answer within %s (it is overloaded or hard to reach), so `%s` was not started. Nothing happened; please try again in a moment.", timeout, Escape(what))
}

// TemporalUnreachable says Temporal could not be reached, so what was not
// started.
func TemporalUnreachable(what string) string {
	return fmt.Sprintf(":warning: I could not reach Temporal, deploybot's workflow engine, so `%s` was not started. Nothing happened; please try again in a minute, and tell your deploybot admins if it keeps failing.", Escape(what))
}

// FreezeOutOfRange refuses what, a freeze ending at until, which is not in
// the future or further away than max.
func FreezeOutOfRange(what string, until time.Time, max time.Duration) string {
	return fmt.Sprintf(":thinking_face: A freeze must end in the future and within %s; `%s` ends %s.", contract.FormatDuration(max), Escape(what), until.Format(time.RFC3339))
}

// UnfreezeFailed says the freeze of target could not be lifted.
func UnfreezeFailed(target, err string) string {
	return fmt.Sprintf(":x: I could not lift the freeze of `%s`: %s. Tell your deploybot admins.", Escape(target), Escape(err))
}

// FreezesRefused says Temporal refused to list the freezes for `freezes`.
func FreezesRefused(err string) string {
	return fmt.Sprintf(":x: I could not list the freezes: Temporal refused the list (%s). Tell your deploybot admins.", Escape(err))
}

// StaleClick is why a click on a request's buttons changed nothing: the
// request no longer waits for one.
type StaleClick struct {
	kind  staleKind
	ended string // how the run ended, for staleEnded ("" = unknown)
	app   string // for staleNewer
	url   string // the current run's page, for staleNewer ("" = none)
}

type staleKind int

const (
	staleGone staleKind = iota
	staleEnded
	staleNewer
)

// RunGone: Temporal no longer has the request's run.
func RunGone() StaleClick { return StaleClick{kind: staleGone} }

// RunEnded: the run ended, how ("" when it could not be read back).
func RunEnded(how string) StaleClick { return StaleClick{kind: staleEnded, ended: how} }

// NewerRun: the buttons are on an older message of app, whose newer run
// (its Temporal UI page url, "" = none) is in progress.
func NewerRun(app, url string) StaleClick { return StaleClick{kind: staleNewer, app: app, url: url} }

// String is the why as the reply gives it, for logs too.
func (w StaleClick) String() string {
	switch w.kind {
	case staleEnded:
		if w.ended == "" {
			return "it ended"
		}
		return "it ended: " + w.ended
	case staleNewer:
		link := ""
		if w.url != "" {
			link = fmt.Sprintf(" (<%s|the current run>)", w.url)
		}
		return "a newer request for " + w.app + " is in progress" + link
	}
	return "this request no longer exists in Temporal"
}

// ClickChangedNothing tells the clicker (ephemerally) that the request no
// longer waits.
func ClickChangedNothing(why StaleClick) string {
	return fmt.Sprintf(":information_source: This request is no longer waiting (%s), so your click changed nothing.", why)
}

// ClickRefused says Temporal refused the click's decision.
func ClickRefused(err string) string {
	return fmt.Sprintf(":x: Your click was not recorded: Temporal refused it (%s). Please try again.", Escape(err))
}

// ClickTemporalBusy says Temporal did not answer within timeout, so the
// click was not recorded.
func ClickTemporalBusy(timeout time.Duration) string {
	return fmt.Sprintf(":hourglass: Temporal, deploybot's workflow engine, did not answer within %s (it is overloaded or hard to reach), so your click was not recorded. Please click again in a moment.", timeout)
}

// ClickTemporalUnreachable says Temporal could not be reached, so the
// click was not recorded.
func ClickTemporalUnreachable() string {
	return ":warning: I could not reach Temporal, deploybot's workflow engine, so your click was not recorded. Please click again in a minute."
}
