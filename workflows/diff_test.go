package workflows_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/workflows"
)

func (h *cmdHarness) syncPreview(p contract.Preview, err error) {
	h.env.OnActivity(h.argo.SyncPreview, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SyncPreviewInput) (contract.Preview, error) { return p, err })
}

var guestbookPreview = contract.Preview{Resources: []contract.ResourceChange{
	{Group: "apps", Kind: "Deployment", Namespace: "default", Name: "guestbook", Change: contract.ChangeUpdate, Fields: []contract.FieldChange{
		{Path: "spec.replicas", From: "2", To: "3"},
		{Path: "spec.template.spec.containers[0].image", From: "guestbook:1.4.2", To: "guestbook:1.5.0"},
	}},
	{Kind: "ConfigMap", Namespace: "default", Name: "guestbook-env", Change: contract.ChangeCreate},
	{Kind: "Service", Namespace: "default", Name: "old", Change: contract.ChangePrune},
}}

// diff APP shares the whole preview as a file, with the summary an
// approver reads as its comment.
func TestDiffWorkflowSharesThePreview(t *testing.T) {
	h := newCmdHarness(t)
	h.syncPreview(guestbookPreview, nil)
	var res workflows.DiffResult
	if err := h.run(workflows.DiffWorkflow, commandInput("guestbook"), &res); err != nil {
		t.Fatal(err)
	}
	if len(h.uploads) != 1 || res.FileID == "" {
		t.Fatalf("uploads = %+v, result %+v", h.uploads, res)
	}
	up := h.uploads[0]
	for _, want := range []string{
		"*3 resources change:*", "`Deployment/guestbook` image guestbook:1.4.2 → guestbook:1.5.0, replicas 2 → 3",
		"`ConfigMap/guestbook-env` (new)", "`Service/old` (requires pruning; left in place)",
	} {
		if !strings.Contains(up.InitialComment, want) {
			t.Errorf("comment lacks %q: %s", want, up.InitialComment)
		}
	}
	for _, want := range []string{"~ apps/Deployment guestbook (namespace default): update", "  - spec.replicas: 2", "  + spec.replicas: 3", "+ ConfigMap guestbook-env", "- Service old"} {
		if !strings.Contains(up.Content, want) {
			t.Errorf("file lacks %q:\n%s", want, up.Content)
		}
	}
}

// Through a response_url (no channel to upload to) the summary is the answer;
// a refusal by Argo CD is said and ends the run with the error.
func TestDiffWorkflowInlineAndRefused(t *testing.T) {
	h := newCmdHarness(t)
	h.syncPreview(guestbookPreview, nil)
	in := commandInput("guestbook")
	in.Reply = contract.ReplyTo{ResponseURL: "https://hooks.slack.com/commands/T0/1/secret"}
	var res workflows.DiffResult
	if err := h.run(workflows.DiffWorkflow, in, &res); err != nil {
		t.Fatal(err)
	}
	if len(h.responses) != 1 || len(h.uploads) != 0 || !strings.Contains(h.responses[0].Message.Text, "3 resources change") {
		t.Errorf("responses %+v uploads %d", h.responses, len(h.uploads))
	}

	h = newCmdHarness(t)
	h.syncPreview(contract.Preview{}, temporal.NewNonRetryableApplicationError("permission denied", string(argocd.KindPermissionDenied), nil))
	res = workflows.DiffResult{}
	if err := h.run(workflows.DiffWorkflow, commandInput("guestbook"), &res); err != nil {
		t.Fatal(err)
	}
	if res.Error == "" || len(h.posts) != 1 || !strings.Contains(h.rendered()[0], "permission denied") {
		t.Errorf("refused: result %+v posts %v", res, h.rendered())
	}
}
