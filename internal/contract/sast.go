package contract

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Names of the quality-gate workflow, its signals, query and update.
const (
	// WorkflowQualityGate handles one SonarQube analysis: a failed gate is
	// posted for a security approver to accept or reject (then emailed); a
	// passing one supersedes the pending requests of older analyses.
	WorkflowQualityGate = "QualityGateWorkflow"
	// SignalSuperseded tells a pending quality-gate run that a newer
	// analysis of the same project and branch arrived (a Supersede).
	SignalSuperseded = "superseded"
	// UpdateDecide is a decision (a Decision) that answers the caller with a
	// DecisionResult, or with an error saying why it was refused (not an
	// approver, no longer waiting). The runs API uses it; Slack clicks use
	// SignalDecision, refused with an ephemeral message instead. Both
	// DeployWorkflow and QualityGateWorkflow handle it.
	UpdateDecide = "decide"
)

// Outcomes of a quality-gate run (Outcome is shared with deploy runs).
const (
	OutcomeAccepted   Outcome = "accepted"   // an approver accepted the risk
	OutcomeSuperseded Outcome = "superseded" // a newer analysis of the branch arrived first
	OutcomePassed     Outcome = "passed"     // the gate passed: nothing to decide
)

// Quality gate statuses as SonarQube sends them.
const (
	GateOK    = "OK"
	GateError = "ERROR"
)

// SASTWorkflowPrefix starts every quality-gate workflow id.
const SASTWorkflowPrefix = "sast-"

// maxWorkflowID is Temporal's default limit on workflow id length.
const maxWorkflowID = 1000

// SASTWorkflowID is the id of the run for one analysis; key is the
// analysis' stable key (sonarqube.Payload.RunKey: project, branch and
// analysis), so a repeated delivery maps to the same run.
func SASTWorkflowID(key string) string { return SASTWorkflowPrefix + key }

// ValidateSASTWorkflowID says what is wrong with a quality-gate run id, or nil.
func ValidateSASTWorkflowID(id string) error {
	key, ok := strings.CutPrefix(id, SASTWorkflowPrefix)
	switch {
	case !ok || key == "":
		return fmt.Errorf("%q is not a quality-gate run id (they start with %q)", id, SASTWorkflowPrefix)
	case len(id) > maxWorkflowID:
		return fmt.Errorf("quality-gate run id is %d bytes long; at most %d", len(id), maxWorkflowID)
	case strings.ContainsAny(id, " /\t\r\n"):
		return fmt.Errorf("%q is not a quality-gate run id: it has spaces or slashes", id)
	}
	return nil
}

// GateCondition is one quality-gate condition and its result.
type GateCondition struct {
	Metric   string `json:"metric"`
	Operator string `json:"operator"`
	// Value is the measured value ("" when the metric has none).
	Value string `json:"value,omitempty"`
	// Status is OK, ERROR or NO_VALUE.
	Status         string `json:"status"`
	ErrorThreshold string `json:"errorThreshold,omitempty"`
}

// Analysis is a SonarQube analysis as the quality-gate run needs it.
type Analysis struct {
	// Key is the analysis' stable key (project, branch, analysis); the run's
	// id is SASTWorkflowID(Key).
	Key         string `json:"key"`
	ServerURL   string `json:"serverUrl,omitempty"`
	TaskID      string `json:"taskId,omitempty"`
	ProjectKey  string `json:"projectKey"`
	ProjectName string `json:"projectName,omitempty"`
	// DashboardURL is the project's (or branch's, or pull request's) page in SonarQube.
	DashboardURL string `json:"dashboardUrl,omitempty"`
	// Branch is the branch name, or the pull request id when PullRequest is
	// set; "" when the server does not report branches.
	Branch      string    `json:"branch,omitempty"`
	PullRequest bool      `json:"pullRequest,omitempty"`
	IsMain      bool      `json:"isMain,omitempty"`
	Revision    string    `json:"revision,omitempty"`
	AnalysedAt  time.Time `json:"analysedAt"`
	// ChangedAt is when the gate was last evaluated: a delivery for an
	// issue change has the analysis' AnalysedAt and a new ChangedAt.
	ChangedAt time.Time `json:"changedAt,omitzero"`
	GateName  string    `json:"gateName,omitempty"`
	// GateStatus is GateOK or GateError.
	GateStatus string          `json:"gateStatus"`
	Conditions []GateCondition `json:"conditions,omitempty"`
}

// EvaluatedAt orders the deliveries of a branch: the gate's current state
// is the delivery evaluated last (ChangedAt, else AnalysedAt).
func (a Analysis) EvaluatedAt() time.Time {
	if !a.ChangedAt.IsZero() {
		return a.ChangedAt
	}
	return a.AnalysedAt
}

// MemoSASTEvaluatedAt is the memo key under which a quality-gate run
// records its Analysis.EvaluatedAt (RFC 3339), so the runs of a branch can
// be ordered from visibility alone.
const MemoSASTEvaluatedAt = "sast_evaluated_at"

// Failed returns the conditions whose status is ERROR, in order.
func (a Analysis) Failed() []GateCondition {
	var out []GateCondition
	for _, c := range a.Conditions {
		if c.Status == GateError {
			out = append(out, c)
		}
	}
	return out
}

// BranchLabel names the branch for people: "main", "PR #482", or "" when
// the server reports none.
func (a Analysis) BranchLabel() string {
	if a.PullRequest {
		return "PR #" + a.Branch
	}
	return a.Branch
}

// SASTPolicy are the rules a quality-gate run applies, fixed at its start.
type SASTPolicy struct {
	// Channel is SAST_CHANNEL, where the request is posted.
	Channel string `json:"channel"`
	// Approvers (SAST_APPROVERS) may accept or reject; empty means nobody can.
	Approvers []string `json:"approvers"`
	// ApprovalTimeout is SAST_APPROVAL_TIMEOUT; a reminder goes out at half of it.
	ApprovalTimeout time.Duration `json:"approvalTimeout"`
	// EmailTo (SAST_EMAIL_TO) receive the decision; empty means no email.
	EmailTo []string `json:"emailTo,omitempty"`
	// TemporalUIURL and Namespace build links to the run.
	TemporalUIURL string `json:"temporalUiUrl,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
}

// QualityGateInput is the input of QualityGateWorkflow.
type QualityGateInput struct {
	Analysis Analysis   `json:"analysis"`
	Policy   SASTPolicy `json:"policy"`
	// Rule is the approval rule that matched the SonarQube project; nil
	// (runs begun before approval policies) is DefaultGateRule of Policy.
	Rule *ApprovalRule `json:"rule,omitempty"`
}

// Validate says what is wrong with a quality-gate input, or nil.
func (in QualityGateInput) Validate() error {
	a := in.Analysis
	var errs []error
	if a.Key == "" {
		errs = append(errs, errors.New("the analysis has no key: the gateway must set it from the webhook (sonarqube.Payload.RunKey)"))
	}
	if a.ProjectKey == "" {
		errs = append(errs, errors.New("the analysis has no project key"))
	}
	if a.GateStatus != GateOK && a.GateStatus != GateError {
		errs = append(errs, fmt.Errorf("quality gate status %q is neither %s nor %s", a.GateStatus, GateOK, GateError))
	}
	if a.GateStatus == GateError {
		if in.Policy.Channel == "" {
			errs = append(errs, errors.New("no channel to post the failed gate in: set SAST_CHANNEL, e.g. C0123SECURITY"))
		}
		if in.Policy.ApprovalTimeout <= 0 {
			errs = append(errs, errors.New("approval timeout must be positive (SAST_APPROVAL_TIMEOUT), e.g. 24h"))
		}
	}
	if in.Rule != nil {
		if in.Rule.NoApproval {
			errs = append(errs, fmt.Errorf("approval rule %q needs no approval, which a quality gate cannot have: accepting a risk always needs an approver", in.Rule.Name))
		}
		if err := in.Rule.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Supersede is SignalSuperseded's payload: the newer analysis.
type Supersede struct {
	WorkflowID string    `json:"workflowId"`
	Revision   string    `json:"revision,omitempty"`
	AnalysedAt time.Time `json:"analysedAt"`
	// EvaluatedAt and StartedAt (the run's start) order the analyses of a
	// branch; see Supersedes.
	EvaluatedAt time.Time `json:"evaluatedAt,omitzero"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	// GatePassed is true when the newer analysis passed the gate.
	GatePassed bool   `json:"gatePassed"`
	RunURL     string `json:"runUrl,omitempty"`
}

// GateOrder places a quality-gate run among the runs of its branch: by when
// its gate was evaluated, then when the run started, then its workflow id,
// so any two runs compare the same way from either side and exactly one of
// two look-alike deliveries stays pending.
type GateOrder struct {
	EvaluatedAt time.Time
	StartedAt   time.Time
	WorkflowID  string
}

// After reports whether o comes strictly after p.
func (o GateOrder) After(p GateOrder) bool {
	switch {
	case !o.EvaluatedAt.Equal(p.EvaluatedAt):
		return o.EvaluatedAt.After(p.EvaluatedAt)
	case !o.StartedAt.Equal(p.StartedAt):
		return o.StartedAt.After(p.StartedAt)
	}
	return o.WorkflowID > p.WorkflowID
}

// Order is the order of the analysis s describes.
func (s Supersede) Order() GateOrder {
	at := s.EvaluatedAt
	if at.IsZero() {
		at = s.AnalysedAt
	}
	return GateOrder{EvaluatedAt: at, StartedAt: s.StartedAt, WorkflowID: s.WorkflowID}
}

// SASTStep is where a quality-gate run is.
type SASTStep string

// The steps of a quality-gate run, in order.
const (
	SASTStepSuperseding      SASTStep = "superseding_older"
	SASTStepAwaitingDecision SASTStep = "awaiting_decision"
	SASTStepEmailing         SASTStep = "emailing"
	SASTStepDone             SASTStep = "done"
)

// QualityGateStatus is a quality-gate run's state, returned by QueryStatus.
type QualityGateStatus struct {
	Step     SASTStep `json:"step"`
	Analysis Analysis `json:"analysis"`
	Channel  string   `json:"channel,omitempty"`
	// RequestTS is the request message; later messages are in its thread.
	RequestTS string    `json:"requestTs,omitempty"`
	ExpiresAt time.Time `json:"expiresAt,omitempty"`
	DecidedBy *User     `json:"decidedBy,omitempty"`
	// Rule names the approval rule followed; Approvals are every approval
	// counted (a rule of several lists them all), the deciding one last.
	Rule       string     `json:"rule,omitempty"`
	Approvals  []Approval `json:"approvals,omitempty"`
	DecidedAt  time.Time  `json:"decidedAt,omitempty"`
	Outcome    Outcome    `json:"outcome,omitempty"`
	Message    string     `json:"message,omitempty"`
	EmailSent  bool       `json:"emailSent,omitempty"`
	EmailError string     `json:"emailError,omitempty"`
	// SupersededBy is the workflow id of the newer analysis' run.
	SupersededBy string    `json:"supersededBy,omitempty"`
	StartedAt    time.Time `json:"startedAt"`
	FinishedAt   time.Time `json:"finishedAt,omitempty"`
}

// QualityGateResult is the result of QualityGateWorkflow.
type QualityGateResult struct {
	Outcome    Outcome `json:"outcome"`
	ProjectKey string  `json:"projectKey"`
	Branch     string  `json:"branch,omitempty"`
	Revision   string  `json:"revision,omitempty"`
	DecidedBy  *User   `json:"decidedBy,omitempty"`
	// Rule names the approval rule followed; Approvals are every approval
	// counted (a rule of several lists them all), the deciding one last.
	Rule      string     `json:"rule,omitempty"`
	Approvals []Approval `json:"approvals,omitempty"`
	DecidedAt time.Time  `json:"decidedAt,omitempty"`
	Message   string     `json:"message,omitempty"`
	// EmailMessageID is the Message-ID of the decision email, if one was sent.
	EmailMessageID string `json:"emailMessageId,omitempty"`
	// EmailError says why the decision email could not be sent.
	EmailError string `json:"emailError,omitempty"`
	// SupersededBy is the workflow id of the run of the newer analysis.
	SupersededBy string `json:"supersededBy,omitempty"`
	// Superseded lists the older runs this analysis superseded.
	Superseded []string `json:"superseded,omitempty"`
}

// DecisionResult answers UpdateDecide.
type DecisionResult struct {
	// Outcome is what the decision made of the request: approved or
	// rejected (deploy), accepted or rejected (quality gate).
	Outcome Outcome `json:"outcome"`
	Message string  `json:"message,omitempty"`
}

// OutcomeApproved is DecisionResult.Outcome for an approved deploy request
// (the run goes on; its final outcome comes later).
const OutcomeApproved Outcome = "approved"

// OutcomeCounted is DecisionResult.Outcome for an approval that counted
// toward a rule of several approvals which is not met yet.
const OutcomeCounted Outcome = "counted"

// Error types of a refused UpdateDecide (temporal.ApplicationError.Type()),
// so callers can tell "you may not" from "too late".
const (
	// DecisionNotAllowedErrorType: the user may not decide this run
	// (not an approver, or the requester approving their own request).
	DecisionNotAllowedErrorType = "DecisionNotAllowed"
	// DecisionNotWaitingErrorType: the run no longer waits for a decision.
	DecisionNotWaitingErrorType = "DecisionNotWaiting"
	// DecisionInvalidErrorType: the decision itself is malformed (no user).
	DecisionInvalidErrorType = "DecisionInvalid"
)
