// Package runsapi is deploybot's runs API: the JSON shapes served by the
// gateway under /api/v1/runs and a Go client for them (used by
// `deploybot sast wait`). Tools outside Slack use it to read a run and to
// approve or reject it on behalf of a named user, with the same approver
// rules as a click.
package runsapi

import "time"

// Paths and headers of the API.
const (
	// BasePath prefixes every route.
	BasePath = "/api/v1/runs"
	// DefaultURL is where `deploybot dev` serves the API.
	DefaultURL = "http://localhost:8080"
)

// Run types.
const (
	TypeDeploy = "deploy"
	TypeSAST   = "sast"
)

// Run states: where a run stands, in words a pipeline can branch on.
const (
	// StateWaiting: the run waits for an approver's decision.
	StateWaiting = "waiting_for_decision"
	// StateRunning: the run is in flight but not waiting for a person.
	StateRunning = "running"
	// StateDone: the run has ended; Outcome says how.
	StateDone = "done"
)

// User is a Slack user.
// Approval is one approval that counted.
type Approval struct {
	User User      `json:"user"`
	At   time.Time `json:"at"`
}

// User is a Slack user.
type User struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Via says how a decision came when it was not a click ("token ci").
	Via string `json:"via,omitempty"`
}

// Run is a deploy or quality-gate run.
type Run struct {
	// ID is the workflow id, RunID the Temporal run id.
	ID    string `json:"id"`
	RunID string `json:"runId,omitempty"`
	// Type is TypeDeploy or TypeSAST.
	Type string `json:"type"`
	// State is StateWaiting, StateRunning or StateDone.
	State string `json:"state"`
	// Status is Temporal's execution status, lowercase: running,
	// completed, failed, canceled, terminated, timed_out, continued_as_new.
	Status string `json:"status"`
	// Step is the workflow's own step (its status query), when running.
	Step string `json:"step,omitempty"`
	// Deploy runs.
	App    string `json:"app,omitempty"`
	Action string `json:"action,omitempty"`
	// FromRevision is what a deploy run started from; Revision what it
	// deployed (deploy runs) or the analysed commit (quality-gate runs).
	FromRevision string `json:"fromRevision,omitempty"`
	Revision     string `json:"revision,omitempty"`
	// Quality-gate runs.
	Project string `json:"project,omitempty"`
	Branch  string `json:"branch,omitempty"`
	// SupersededBy is the id of the run of a later evaluation of the branch
	// (outcome superseded): that run is the gate's current state.
	SupersededBy string `json:"supersededBy,omitempty"`

	RequestedBy *User `json:"requestedBy,omitempty"`
	DecidedBy   *User `json:"decidedBy,omitempty"`
	// Rule names the approval rule the run follows; Approvals are every
	// approval counted so far, in order (a rule of several approvals lists
	// each; DecidedBy is the one that met it).
	Rule      string     `json:"rule,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`
	// Outcome is how the run ended or, while it runs, what was decided
	// (e.g. "approved" while the sync goes on); "" while undecided.
	Outcome   string    `json:"outcome,omitempty"`
	Message   string    `json:"message,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	ClosedAt  time.Time `json:"closedAt,omitzero"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// URL is the run's page in the Temporal UI.
	URL string `json:"url,omitempty"`
}

// RunList answers GET /api/v1/runs, newest first.
type RunList struct {
	Runs []Run `json:"runs"`
}

// ListQuery filters GET /api/v1/runs; empty fields do not filter. Query
// parameters: type, project, branch, revision, app, limit.
type ListQuery struct {
	Type     string
	Project  string
	Branch   string
	Revision string
	App      string
	// Limit caps the runs returned; 0 = 20, at most 100.
	Limit int
}

// Decisions accepted by POST /api/v1/runs/{id}/decision.
const (
	DecisionApprove = "approve"
	// DecisionAccept is a synonym of approve, the word of quality-gate runs.
	DecisionAccept = "accept"
	DecisionReject = "reject"
)

// DecisionRequest is the body of POST /api/v1/runs/{id}/decision.
type DecisionRequest struct {
	// Decision is DecisionApprove, DecisionAccept or DecisionReject.
	Decision string `json:"decision"`
	// User is the Slack user id the decision is made on behalf of; the
	// run's approver rules apply to it exactly as to a click.
	User string `json:"user"`
	// UserName is shown in messages and emails; optional.
	UserName string `json:"userName,omitempty"`
}

// DecisionResponse answers an accepted decision.
type DecisionResponse struct {
	// Outcome is what the decision made of the request: approved,
	// accepted or rejected.
	Outcome string `json:"outcome"`
	Message string `json:"message,omitempty"`
	Run     Run    `json:"run"`
}

// Error is the body of every 4xx/5xx answer.
type Error struct {
	Error string `json:"error"`
}
