package slackui_test

import (
	"strings"
	"testing"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

func sastRequest() *slackui.SASTRequest {
	return &slackui.SASTRequest{
		WorkflowID: "sast-deploybot:payments-api~branch-main~task-T1",
		RunURL:     "http://localhost:8233/namespaces/default/workflows/sast-x/run-1/history",
		Analysis: contract.Analysis{
			ProjectKey: "deploybot:payments-api", ProjectName: "payments-api", Branch: "main",
			DashboardURL: "https://sonarqube.example.com/dashboard?id=deploybot%3Apayments-api&branch=main",
			Revision:     "9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645", AnalysedAt: deployed, GateName: "Sonar way", GateStatus: "ERROR",
			Conditions: []contract.GateCondition{
				{Metric: "new_security_rating", Operator: "GREATER_THAN", Value: "3", Status: "ERROR", ErrorThreshold: "1"},
				{Metric: "new_coverage", Operator: "LESS_THAN", Value: "42.5", Status: "ERROR", ErrorThreshold: "80"},
				{Metric: "new_bugs", Operator: "GREATER_THAN", Value: "0", Status: "OK", ErrorThreshold: "0"},
			},
		},
		ExpiresAt: expires,
		State:     slackui.RequestPending,
	}
}

func TestRenderPendingSASTRequest(t *testing.T) {
	text, blocks := render(t, slackui.Message{SASTRequest: sastRequest()})
	all := allText(t, blocks)
	for _, want := range []string{
		":shield: Quality gate failed: payments-api (main)",
		"*Project*\n`deploybot:payments-api`", "*Branch*\n`main`", "*Revision*\n`9f2c1b7`",
		"failed on 2 conditions",
		"new_security_rating  3 (C)   &gt;         1 (A)",
		"new_coverage         42.5    &lt;         80",
		"|Open in SonarQube>", "|View run in Temporal>",
		"*Expires*\n<!date^1741084200^",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("blocks lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "new_bugs") {
		t.Error("a passing condition is listed as failed")
	}
	var buttons []map[string]any
	for _, b := range blockJSON(t, blocks) {
		if b["type"] == "actions" {
			for _, e := range b["elements"].([]any) {
				buttons = append(buttons, e.(map[string]any))
			}
		}
	}
	if len(buttons) != 2 || buttons[0]["action_id"] != slackui.ActionSASTAccept || buttons[1]["action_id"] != slackui.ActionSASTReject ||
		buttons[0]["value"] != sastRequest().WorkflowID || buttons[0]["confirm"] == nil {
		t.Errorf("buttons = %v, want Accept risk (with confirm) and Reject carrying the workflow id", buttons)
	}
	if want := "Quality gate failed: payments-api (main) at 9f2c1b7: waiting for a security approver until 2025-03-04 10:30 UTC"; text != want {
		t.Errorf("text = %q, want %q", text, want)
	}
}

func TestRenderDecidedSASTRequests(t *testing.T) {
	for state, want := range map[slackui.RequestState]string{
		slackui.RequestAccepted:   ":warning: Risk accepted by <@U0BOB>",
		slackui.RequestRejected:   "❌ Rejected by <@U0BOB>",
		slackui.RequestExpired:    "⌛ Expired",
		slackui.RequestSuperseded: "Superseded by a newer analysis\nA newer analysis passed.",
		slackui.RequestCancelled:  "Cancelled",
	} {
		r := sastRequest()
		r.State = state
		if state == slackui.RequestAccepted || state == slackui.RequestRejected {
			r.DecidedBy = &contract.User{ID: "U0BOB", Name: "bob"}
		}
		if state == slackui.RequestSuperseded {
			r.Note = "A newer analysis passed."
		}
		text, blocks := render(t, slackui.Message{SASTRequest: r})
		all := allText(t, blocks)
		if !strings.Contains(all, want) {
			t.Errorf("%s: blocks lack %q:\n%s", state, want, all)
		}
		for _, b := range blockJSON(t, blocks) {
			if b["type"] == "actions" {
				t.Errorf("%s: buttons are still shown", state)
			}
		}
		if strings.Contains(text, "waiting") {
			t.Errorf("%s: text still says waiting: %q", state, text)
		}
	}
}

func TestRenderSASTRequestPullRequestAndErrors(t *testing.T) {
	r := sastRequest()
	r.Analysis.PullRequest, r.Analysis.Branch = true, "482"
	_, blocks := render(t, slackui.Message{SASTRequest: r})
	if all := allText(t, blocks); !strings.Contains(all, "payments-api (PR #482)") || !strings.Contains(all, "*Pull request*\n`482`") {
		t.Errorf("pull request not shown as such:\n%s", all)
	}
	for name, bad := range map[string]*slackui.SASTRequest{
		"no project":    {State: slackui.RequestPending, WorkflowID: "sast-x"},
		"no state":      {Analysis: contract.Analysis{ProjectKey: "p"}},
		"pending no id": {Analysis: contract.Analysis{ProjectKey: "p"}, State: slackui.RequestPending},
	} {
		if _, _, err := slackui.Render(slackui.Message{SASTRequest: bad}); err == nil {
			t.Errorf("%s: rendered, want an error", name)
		}
	}
}

func TestConditionTableForEmail(t *testing.T) {
	got := slackui.ConditionTable([]contract.GateCondition{{Metric: "new_coverage", Operator: "LESS_THAN", Value: "42.5", ErrorThreshold: "80"}})
	if !strings.Contains(got, "METRIC") || !strings.Contains(got, "42.5") || !strings.Contains(got, "<") || strings.Contains(got, "&lt;") {
		t.Errorf("email table = %q, want plain (unescaped) text", got)
	}
}
