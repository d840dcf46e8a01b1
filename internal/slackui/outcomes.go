package slackui

import (
	"fmt"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// The words of a deploy run's outcomes and notes. Workflows pass what
// happened; these say it (in the thread, the status message, the runs API
// and the Temporal UI alike).

// ActionOf names a requested action as a thing: "the sync of guestbook",
// "turning off auto-sync of payments".
func ActionOf(a contract.Action, app string) string {
	switch a {
	case contract.ActionAutoSyncOn:
		return "turning on auto-sync of " + app
	case contract.ActionAutoSyncOff:
		return "turning off auto-sync of " + app
	}
	return "the " + ActionName(a) + " of " + app
}

// RequestNotPosted: the approval request could not be posted, so nobody
// was asked and the run ends.
func RequestNotPosted(err string) string {
	return "could not post the approval request in Slack: " + err
}

// RefusedBeforeAsking tells the requester Argo CD refused the request
// (unknown app or history id, no permission) before anyone was asked.
func RefusedBeforeAsking(requester contract.User, a contract.Action, app, err string) string {
	return fmt.Sprintf(":x: %s: cannot %s %s: %s", requester.Mention(), Verb(a), app, Escape(err))
}

// FreezesUnreadable: freezes could not be read; a freeze is never waved
// through, so the request is refused.
func FreezesUnreadable(err string) string {
	return "could not check for freezes, so nothing was asked: " + err
}

// RejectedBy ends a rejected deploy run.
func RejectedBy(u contract.User) string { return fmt.Sprintf("Rejected by %s.", u.Mention()) }

// WithdrawnByRequester notes a request rejected by the one who asked.
func WithdrawnByRequester() string { return "Withdrawn by the requester." }

// DeployExpired ends a deploy request nobody decided in time.
func DeployExpired(timeout time.Duration) string {
	return fmt.Sprintf("Nobody decided within %s; the request expired. Ask again if it is still needed.", timeout)
}

// CancelledBeforeDecision ends a request cancelled in Temporal.
func CancelledBeforeDecision() string {
	return "The run was cancelled in Temporal before anyone decided."
}

// DeployDecisionAnswer answers the approver whose decision was taken.
func DeployDecisionAnswer(approve bool) string {
	if approve {
		return "Approved; the operation starts now."
	}
	return "Rejected; nothing was changed in Argo CD."
}

// SelfApprovalRefused: the requester may not approve their own request,
// under rule (nil: the environment's ALLOW_SELF_APPROVAL=false).
func SelfApprovalRefused(a contract.Action, app string, rule *contract.ApprovalRule) string {
	if rule != nil {
		return fmt.Sprintf("You requested %s, so someone else must approve it (rule %q does not allow self-approval).", ActionOf(a, app), rule.Name)
	}
	return fmt.Sprintf("You requested %s, so someone else must approve it (self-approval is off: ALLOW_SELF_APPROVAL=false).", ActionOf(a, app))
}

// NotAnApprover: the clicker is not in APPROVERS (no policy rule applies).
func NotAnApprover(a contract.Action, app string) string {
	return fmt.Sprintf("You are not an approver for deploybot, so your decision on %s was not counted. Approvers are set in APPROVERS.", ActionOf(a, app))
}

// AutoSyncBlocksRollback: Argo CD refuses the rollback while auto-sync is
// on, and deploybot may not turn it off.
func AutoSyncBlocksRollback(app string) string {
	return fmt.Sprintf("Argo CD refuses to roll back %s while auto-sync is on (it would sync straight back). "+
		"Turn auto-sync off first with `autosync %s off`, or have an admin set AUTO_DISABLE_SYNC_ON_ROLLBACK=true so deploybot does it.", app, app)
}

// TurningAutoSyncOffForRollback is the status while auto-sync is turned
// off so a refused rollback can go ahead.
func TurningAutoSyncOffForRollback() string {
	return "Auto-sync is on, so Argo CD refused the rollback; turning auto-sync off (AUTO_DISABLE_SYNC_ON_ROLLBACK=true)."
}

// AutoSyncChangeFailed: Argo CD did not take the policy change.
func AutoSyncChangeFailed(on bool, err string) string {
	if on {
		return "could not turn auto-sync on: " + err
	}
	return "could not turn auto-sync off: " + err
}

// AutoSyncOffForRollback notes in the thread that auto-sync was turned off
// so the rollback can stay.
func AutoSyncOffForRollback(app string, c AutoSyncChange) string {
	return fmt.Sprintf(":pause_button: Auto-sync is now *off* for %s (it was %s) so the rollback can stay: %s. "+
		"Restore it with `autosync %s on` when you are done.", app, describePolicy(c.Policy), howAutoSyncOff(c), app)
}

// OperationInProgress: Argo CD already runs an operation on the app.
func OperationInProgress(app string) string {
	return fmt.Sprintf("Argo CD is already running an operation on %s; wait for it to end (see `status %s`) and ask again.", app, app)
}

// OperationNotStarted: Argo CD refused to start the operation.
func OperationNotStarted(a contract.Action, err string) string {
	return fmt.Sprintf("Argo CD did not start the %s: %s", ActionName(a), err)
}

// WaitingForArgoCD is the status while an approved run rides out an Argo CD
// outage.
func WaitingForArgoCD(err string, until time.Time) string {
	return fmt.Sprintf("Waiting for Argo CD, which does not answer (%s); deploybot keeps trying until %s (HEALTH_TIMEOUT).",
		err, until.UTC().Format("15:04 UTC"))
}

// NotHealthyInTime ends a run whose app was not Synced and Healthy within
// the health timeout; lastErr is Argo CD's last failure, if it stopped
// answering.
func NotHealthyInTime(app string, timeout time.Duration, lastErr string) string {
	msg := fmt.Sprintf("%s was not Synced and Healthy within %s (HEALTH_TIMEOUT).", app, timeout)
	if lastErr != "" {
		msg += " Argo CD did not answer in time: " + lastErr
	}
	return msg
}

// AppUnreadable: the app could not be read while following the operation.
func AppUnreadable(err string) string { return "could not read the app from Argo CD: " + err }

// OperationEnded: Argo CD's operation ended Failed or Error.
func OperationEnded(phase, message string) string {
	return fmt.Sprintf("The Argo CD operation ended %s: %s", phase, message)
}

// DegradedAfter: the operation ran but left the app Degraded.
func DegradedAfter(a contract.Action, app string) string {
	return fmt.Sprintf("The %s ran, but %s is Degraded.", ActionName(a), app)
}

// CancelledWhileFollowing ends a run cancelled after the operation started.
func CancelledWhileFollowing() string {
	return "The run was cancelled in Temporal while following the operation."
}

// TimedOut says an activity timed out (Temporal's timeout type), with the
// last error of its attempts if there was one.
func TimedOut(timeoutType, lastErr string) string {
	if lastErr != "" {
		return fmt.Sprintf("timed out (%s); last error: %s", timeoutType, lastErr)
	}
	return fmt.Sprintf("timed out (%s)", timeoutType)
}

// EmailNotSent notes in the thread that an email (the decision's or a
// break-glass sync's) could not be sent.
func EmailNotSent(what string, to []string, err string) string {
	return fmt.Sprintf(":x: The %s email to %s could not be sent: %s. Tell them yourself, and ask an admin to check the SMTP_* settings of the worker.",
		what, Escape(strings.Join(to, ", ")), Escape(err))
}

// EmailLate notes that the decision email has not gone out yet and is
// retried for retryFor.
func EmailLate(to []string, err string, retryFor time.Duration) string {
	return fmt.Sprintf(":warning: The decision email to %s has not gone out yet: %s. deploybot keeps trying for %s.",
		Escape(strings.Join(to, ", ")), Escape(err), retryFor)
}

// EmailSentLate notes that a late decision email went out.
func EmailSentLate() string { return ":email: The decision email went out after all." }

// What EmailNotSent's email is.
const (
	DecisionEmail   = "decision"
	BreakGlassEmail = "break-glass"
)
