package slackui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
)

// Action ids of the quality-gate buttons; the value is the workflow id.
const (
	ActionSASTAccept = "deploybot.sast.accept"
	ActionSASTReject = "deploybot.sast.reject"
)

// Block ids of the quality-gate message.
const (
	BlockIDSASTRequest    = "deploybot.sast.request"
	BlockIDSASTConditions = "deploybot.sast.conditions"
)

// The states of a quality-gate request beyond those of a deploy request.
const (
	RequestAccepted   RequestState = "accepted"
	RequestSuperseded RequestState = "superseded"
)

// maxConditionRows bounds the failed-conditions table; a gate has a handful.
const maxConditionRows = 30

// SASTRequest is the message posted when a quality gate fails: what failed
// and, while pending, the Accept risk / Reject buttons.
type SASTRequest struct {
	WorkflowID string            `json:"workflowId"`
	RunID      string            `json:"runId,omitempty"` // in the buttons with WorkflowID
	RunURL     string            `json:"runUrl,omitempty"`
	Analysis   contract.Analysis `json:"analysis"`
	ExpiresAt  time.Time         `json:"expiresAt"`
	// State is RequestPending, RequestAccepted, RequestRejected,
	// RequestExpired, RequestSuperseded or RequestCancelled.
	State     RequestState   `json:"state"`
	DecidedBy *contract.User `json:"decidedBy,omitempty"`
	DecidedAt time.Time      `json:"decidedAt,omitzero"`
	// Note is shown under the outcome (plain text).
	Note string `json:"note,omitempty"`
	// Approvals shows how far a rule needing several approvals is met.
	Approvals *ApprovalProgress `json:"approvals,omitempty"`
}

// renderSASTRequest renders the quality-gate request.
func renderSASTRequest(r *SASTRequest) (string, []slack.Block, error) {
	a := r.Analysis
	if a.ProjectKey == "" {
		return "", nil, errors.New("slackui: SASTRequest needs Analysis.ProjectKey")
	}
	if err := checkRequest("SASTRequest", r.State, r.WorkflowID, r.RunID,
		RequestPending, RequestAccepted, RequestRejected, RequestExpired, RequestSuperseded, RequestCancelled); err != nil {
		return "", nil, err
	}
	pending := r.State == RequestPending
	project := a.ProjectName
	if project == "" {
		project = a.ProjectKey
	}
	where := project
	if b := a.BranchLabel(); b != "" {
		where += " (" + b + ")"
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(Truncate(":shield: Quality gate failed: "+where, maxHeaderText))),
	}
	failed := a.Failed()
	intro := fmt.Sprintf("SonarQube's quality gate %s failed on %d condition%s. A security approver may accept the risk or reject it.",
		code(orDefault(a.GateName, "gate")), len(failed), plural(len(failed)))
	fields := []*slack.TextBlockObject{mrkdwn("*Project*\n" + code(a.ProjectKey))}
	if b := a.BranchLabel(); b != "" {
		label := "*Branch*\n"
		if a.PullRequest {
			label = "*Pull request*\n"
		}
		fields = append(fields, mrkdwn(label+code(a.Branch)))
	}
	fields = append(fields, mrkdwn("*Revision*\n"+revCode(a.Revision)))
	if !a.AnalysedAt.IsZero() {
		fields = append(fields, mrkdwn("*Analysed*\n"+slackDate(a.AnalysedAt)))
	}
	if pending && !r.ExpiresAt.IsZero() {
		fields = append(fields, mrkdwn("*Expires*\n"+slackDate(r.ExpiresAt)))
	}
	blocks = append(blocks, section(BlockIDSASTRequest, intro, fields...))
	if len(failed) > 0 {
		blocks = append(blocks, section(BlockIDSASTConditions, "*Failed conditions*\n```\n"+conditionTable(failed)+"\n```"))
	}
	if r.Approvals != nil {
		blocks = append(blocks, approvalsBlock(r.Approvals))
	}
	if pending {
		blocks = append(blocks, sastButtons(r))
	} else {
		blocks = append(blocks, section(BlockIDOutcome, sastOutcome(r)))
	}
	var links []string
	if a.DashboardURL != "" {
		links = append(links, link(a.DashboardURL, "Open in SonarQube"))
	}
	if r.RunURL != "" {
		links = append(links, link(r.RunURL, "View run in Temporal"))
	}
	if r.WorkflowID != "" {
		links = append(links, "workflow "+code(r.WorkflowID))
	}
	if len(links) > 0 {
		blocks = append(blocks, slack.NewContextBlock(BlockIDLinks, mrkdwn(Truncate(strings.Join(links, " · "), maxSectionText))))
	}

	text := fmt.Sprintf("Quality gate failed: %s at %s", Escape(where), plainRev(a.Revision))
	if pending {
		text += ": waiting for a security approver"
		if !r.ExpiresAt.IsZero() {
			text += " until " + plainDate(r.ExpiresAt)
		}
	} else {
		text += ": " + Escape(SASTOutcomeText(r.State, r.DecidedBy))
	}
	return text, blocks, nil
}

// ConditionTable lays out failed conditions as monospace rows, the way
// SonarQube's UI reads them: metric, actual value, operator, threshold. It
// is shared by the Slack message and the email (not escaped for mrkdwn in
// the email's case: the caller of the email uses the raw lines).
func ConditionTable(conds []contract.GateCondition) string {
	return Unescape(conditionTable(conds))
}

// conditionTable is ConditionTable escaped for mrkdwn.
func conditionTable(conds []contract.GateCondition) string {
	t := Table{Columns: []string{"metric", "actual", "operator", "threshold"}}
	for i, c := range conds {
		if i == maxConditionRows {
			t.Rows = append(t.Rows, []string{fmt.Sprintf("…and %d more", len(conds)-i)})
			break
		}
		t.Rows = append(t.Rows, []string{c.Metric, ConditionValue(c.Metric, c.Value), OperatorSymbol(c.Operator), ConditionValue(c.Metric, c.ErrorThreshold)})
	}
	w := t.widths()
	lines := []string{line(upper(t.Columns), w)}
	for _, row := range t.Rows {
		lines = append(lines, line(row, w))
	}
	return strings.Join(lines, "\n")
}

// Unescape reverses Escape.
func Unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// OperatorSymbol shows a SonarQube condition operator as a symbol: the
// condition fails when "actual <operator> threshold" holds.
func OperatorSymbol(op string) string {
	switch op {
	case "GREATER_THAN", "GT":
		return ">"
	case "LESS_THAN", "LT":
		return "<"
	case "EQUALS", "EQ":
		return "="
	case "NOT_EQUALS", "NE":
		return "≠"
	}
	return strings.ToLower(op)
}

// ConditionValue shows a metric value; ratings (1–5) also get SonarQube's
// letter, as its UI shows them ("3 (C)").
func ConditionValue(metric, v string) string {
	if v == "" {
		return "–"
	}
	if strings.HasSuffix(metric, "_rating") && len(v) == 1 && v[0] >= '1' && v[0] <= '5' {
		return v + " (" + string(rune('A'+v[0]-'1')) + ")"
	}
	if strings.HasSuffix(metric, "_rating") && strings.HasSuffix(v, ".0") && len(v) == 3 && v[0] >= '1' && v[0] <= '5' {
		return v[:1] + " (" + string(rune('A'+v[0]-'1')) + ")"
	}
	return v
}

// sastButtons are Accept risk (with a confirmation, since it lets failing
// code through) and Reject.
func sastButtons(r *SASTRequest) slack.Block {
	a := r.Analysis
	what := fmt.Sprintf("You accept the security risk of %s at %s; the decision is emailed with your name.", code(a.ProjectKey), revCode(a.Revision))
	confirm := slack.NewConfirmationBlockObject(
		plain(Truncate("Accept this risk?", maxConfirmTitle)),
		mrkdwn(Truncate(what, maxConfirmText)),
		plain(Truncate("Accept risk", maxConfirmButton)),
		plain(Truncate("Cancel", maxConfirmButton)),
	).WithStyle(slack.StyleDanger)
	accept := slack.NewButtonBlockElement(ActionSASTAccept, contract.ButtonValue(r.WorkflowID, r.RunID), plain("Accept risk")).
		WithStyle(slack.StyleDanger).WithConfirm(confirm)
	reject := slack.NewButtonBlockElement(ActionSASTReject, contract.ButtonValue(r.WorkflowID, r.RunID), plain("Reject")).
		WithStyle(slack.StylePrimary)
	return slack.NewActionBlock(BlockIDDecision, accept, reject)
}

// sastOutcome replaces the buttons once the request is decided or closed.
func sastOutcome(r *SASTRequest) string {
	by := ""
	if m := Who(r.DecidedBy); m != "" {
		by = " by " + m
	}
	when := ""
	if !r.DecidedAt.IsZero() {
		when = " on " + slackDate(r.DecidedAt)
	}
	var out string
	switch r.State {
	case RequestAccepted:
		out = ":warning: Risk accepted" + by + when
	case RequestRejected:
		out = "❌ Rejected" + by + when
	case RequestExpired:
		out = "⌛ Expired — no security approver decided in time"
		if !r.ExpiresAt.IsZero() {
			out = "⌛ Expired — no security approver decided before " + slackDate(r.ExpiresAt)
		}
	case RequestSuperseded:
		out = ":arrows_counterclockwise: Superseded by a newer analysis"
	case RequestCancelled:
		out = "🚫 Cancelled in Temporal"
	}
	if n := strings.TrimSpace(r.Note); n != "" {
		out += "\n" + Escape(n)
	}
	return out
}

// SASTOutcomeText says in words how a quality-gate request ended, e.g.
// "risk accepted by Bob", for fallback text, emails and logs.
func SASTOutcomeText(state RequestState, by *contract.User) string {
	who := ""
	if by != nil {
		if w := PlainWho(*by); w != "" {
			who = " by " + w
		}
	}
	switch state {
	case RequestAccepted:
		return "risk accepted" + who
	case RequestRejected:
		return "rejected" + who
	case RequestExpired:
		return "expired, no security approver decided in time"
	case RequestSuperseded:
		return "superseded by a newer analysis"
	case RequestCancelled:
		return "cancelled"
	}
	return "waiting for a security approver"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
