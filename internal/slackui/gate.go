package slackui

import (
	"fmt"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// The words of a quality-gate run's outcomes and notes. Workflows pass
// what happened; these say it.

// GateRequestNotPosted: the quality-gate request could not be posted.
func GateRequestNotPosted(err string) string {
	return "could not post the quality-gate request in Slack: " + err
}

// GateExpired ends an exception nobody decided in time.
func GateExpired(timeout time.Duration) string {
	return fmt.Sprintf("No security approver decided within %s; the exception expired. The quality gate still fails.", timeout)
}

// TheGateOf names what a quality-gate decision is on.
func TheGateOf(projectKey string) string { return "the quality gate of " + projectKey }

// NotASecurityApprover: the clicker is not in SAST_APPROVERS (no policy
// rule applies).
func NotASecurityApprover(projectKey string) string {
	return fmt.Sprintf("You are not a security approver, so your decision on %s was not counted. Security approvers are set in SAST_APPROVERS.", TheGateOf(projectKey))
}

// GateDecisionAnswer answers the security approver whose decision was taken.
func GateDecisionAnswer(accept bool) string {
	if accept {
		return "Risk accepted; the decision is being emailed."
	}
	return "Rejected; the decision is being emailed."
}

// GateReminder nudges the approvers of rule in the thread.
func GateReminder(expires time.Time, rule contract.ApprovalRule) string {
	var approvers []string
	for _, q := range rule.Requires {
		approvers = append(approvers, q.From.Handles()...)
		for _, id := range q.From.Users {
			approvers = append(approvers, contract.User{ID: id}.Mention())
		}
	}
	who := "Nobody is set in SAST_APPROVERS, so nobody can decide it."
	if len(approvers) > 0 {
		who = "Security approvers: " + strings.Join(approvers, ", ") + "."
	}
	return fmt.Sprintf(":alarm_clock: Reminder: this quality-gate exception still waits for a decision and expires <!date^%d^{date_short_pretty} {time}|%s>. %s",
		expires.Unix(), expires.UTC().Format("2006-01-02 15:04 UTC"), who)
}

// GateEmail is how the decision email went, for GateDecided.
type GateEmail struct {
	To    []string // none: no email is configured
	Sent  bool
	Error string
}

// GateDecided ends a decided quality-gate run: the decision, and where it
// was emailed.
func GateDecided(state RequestState, by contract.User, email GateEmail) string {
	msg := SASTOutcomeText(state, &by)
	msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
	if len(email.To) == 0 {
		return msg
	}
	to := strings.Join(email.To, ", ")
	if email.Sent {
		return msg + " Emailed to " + to + "."
	}
	return msg + " The email to " + to + " could not be sent: " + email.Error
}

// Superseded closes a request because a newer analysis arrived.
func Superseded(s contract.Supersede) string {
	rev := "a newer revision"
	if s.Revision != "" {
		rev = "revision " + ShortRev(s.Revision)
	}
	if s.GatePassed {
		return fmt.Sprintf("A newer analysis of %s passed the quality gate, so this exception is no longer needed.", rev)
	}
	return fmt.Sprintf("A newer analysis of %s failed the gate again; it has its own request.", rev)
}
