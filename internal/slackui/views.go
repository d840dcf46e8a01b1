// Package slackui renders deploybot's Slack messages (Block Kit) from plain
// view structs. Workflows build the views (pure data, deterministic) and the
// Slack activities render them, so message layout can change without touching
// workflow history and every message is unit-testable.
package slackui

import (
	"fmt"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// Action ids and values of deploybot's buttons; the value is always the
// workflow id, never data scraped from message text.
const (
	ActionApprove = "deploybot.approve"
	ActionReject  = "deploybot.reject"
)

// RequestState is where an approval request stands.
type RequestState string

// The states of an approval request message.
const (
	RequestPending   RequestState = "pending"
	RequestApproved  RequestState = "approved"
	RequestRejected  RequestState = "rejected"
	RequestExpired   RequestState = "expired"
	RequestCancelled RequestState = "cancelled"
	RequestRefused   RequestState = "refused" // Argo CD refused before anyone could decide
	// RequestNoApproval: the approval rule needs none; the request is the
	// record of who ran what, and why nobody was asked.
	RequestNoApproval RequestState = "no_approval"
)

// Param is one Helm parameter shown in a request.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// DeployRequest is the approval request posted in the channel.
type DeployRequest struct {
	WorkflowID string `json:"workflowId"`
	// RunID goes into the buttons with WorkflowID, so a click decides this
	// run and no other.
	RunID   string          `json:"runId,omitempty"`
	RunURL  string          `json:"runUrl,omitempty"`
	App     string          `json:"app"`
	Project string          `json:"project,omitempty"`
	Action  contract.Action `json:"action"`
	// FromRevision is what runs now; ToRevision is what the action deploys.
	FromRevision string `json:"fromRevision,omitempty"`
	ToRevision   string `json:"toRevision,omitempty"`
	// FromCommit and ToCommit say who made those revisions and why, when
	// Argo CD knows.
	FromCommit *contract.Commit `json:"fromCommit,omitempty"`
	ToCommit   *contract.Commit `json:"toCommit,omitempty"`
	// Preview is what a sync would change (nil: not previewed).
	Preview *contract.Preview `json:"preview,omitempty"`
	// HistoryID, TargetDeployedAt and Params describe a rollback target.
	HistoryID        int64     `json:"historyId,omitempty"`
	TargetDeployedAt time.Time `json:"targetDeployedAt,omitempty"`
	Params           []Param   `json:"params,omitempty"`
	// ParamsNote explains missing parameters (e.g. "Helm parameters unavailable: …").
	ParamsNote  string         `json:"paramsNote,omitempty"`
	AutoSyncOn  bool           `json:"autoSyncOn,omitempty"`
	RequestedBy contract.User  `json:"requestedBy"`
	ExpiresAt   time.Time      `json:"expiresAt"`
	State       RequestState   `json:"state"`
	DecidedBy   *contract.User `json:"decidedBy,omitempty"`
	// Note is shown under the request once it is no longer pending.
	Note string `json:"note,omitempty"`
	// Approvals shows how far a rule needing several approvals is met.
	Approvals *ApprovalProgress `json:"approvals,omitempty"`
	// Emergency is a break-glass sync's reason, shown loudly; "" for others.
	Emergency string `json:"emergency,omitempty"`
	// EmergencyEmailTo are told about it.
	EmergencyEmailTo []string `json:"emergencyEmailTo,omitempty"`
}

// DeployStatus is the one status message in the request's thread that is
// edited as the run goes on.
type DeployStatus struct {
	App string `json:"app"`
	// Project is the app's Argo CD project ("" if it was not read).
	Project  string          `json:"project,omitempty"`
	Action   contract.Action `json:"action"`
	Step     contract.Step   `json:"step"`
	RunURL   string          `json:"runUrl,omitempty"`
	Revision string          `json:"revision,omitempty"`
	// RequestedBy asked; ApprovedBy approved (every approval counted).
	RequestedBy contract.User   `json:"requestedBy,omitzero"`
	ApprovedBy  []contract.User `json:"approvedBy,omitempty"`
	// FromRevision is what ran before; Commit the commit being deployed,
	// when Argo CD knows it.
	FromRevision string           `json:"fromRevision,omitempty"`
	Commit       *contract.Commit `json:"commit,omitempty"`
	// Phase, SyncStatus and Health are the last seen Argo CD state.
	Phase      string              `json:"phase,omitempty"`
	SyncStatus string              `json:"syncStatus,omitempty"`
	Health     string              `json:"health,omitempty"`
	Unhealthy  []contract.Resource `json:"unhealthy,omitempty"`
	Outcome    contract.Outcome    `json:"outcome,omitempty"`
	// Message is the latest explanation (Argo CD's operation message, a failure reason).
	Message string `json:"message,omitempty"`
	// Elapsed is the time since approval.
	Elapsed time.Duration `json:"elapsed,omitempty"`
}

// Message is one Slack message in one of deploybot's shapes; exactly one
// field is set. It is what the Slack activities take.
type Message struct {
	DeployRequest *DeployRequest `json:"deployRequest,omitempty"`
	DeployStatus  *DeployStatus  `json:"deployStatus,omitempty"`
	// Text is a plain mrkdwn message.
	Text string `json:"text,omitempty"`
	// Command is the answer to a read-only command (commands.go).
	Command *CommandReply `json:"command,omitempty"`
	// SASTRequest is a failed quality gate awaiting a decision (sast.go).
	SASTRequest *SASTRequest `json:"sastRequest,omitempty"`
}

// Who renders a person in a Slack message: a mention, or the escaped name
// when there is no id, followed by how a decision arrived ("via token ci").
// "" for nobody.
func Who(u *contract.User) string {
	if u == nil || u.Mention() == "" {
		return ""
	}
	m := u.Mention()
	if u.ID == "" {
		m = Escape(contract.CleanName(m))
	}
	if u.Via != "" {
		m += " via " + Escape(contract.CleanName(u.Via))
	}
	return m
}

// PlainWho renders a person in plain text (fallback text, emails, logs):
// "Bob (U0BOB) via token ci". Names are cleaned, so a line break in one
// cannot forge a line of an email.
func PlainWho(u contract.User) string {
	name, via := contract.CleanName(u.Name), contract.CleanName(u.Via)
	var s string
	switch {
	case name != "" && u.ID != "":
		s = name + " (" + u.ID + ")"
	case name != "":
		s = name
	default:
		s = u.ID
	}
	if via != "" {
		s += " via " + via
	}
	return s
}

// LateDecision answers a click on a request that no longer waits: who
// decided what (outcome is the run's outcome of the decision taken), or
// that nobody did.
func LateDecision(outcome contract.Outcome, by *contract.User) string {
	if outcome == "" || by == nil {
		return ":information_source: This request is no longer waiting for a decision, so your click was not counted."
	}
	return fmt.Sprintf(":information_source: This request was already %s by %s, so your click was not counted.", outcome, Who(by))
}
