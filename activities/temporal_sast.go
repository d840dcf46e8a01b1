package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/deploybot/deploybot/internal/contract"
)

// SupersedeOlderInput is the input of Temporal.SupersedeOlder.
type SupersedeOlderInput struct {
	// Project and Branch (contract.SASTBranchAttr) name the analyses to look at.
	Project string
	Branch  string
	// Newer describes the analysis that supersedes; its WorkflowID is skipped.
	Newer contract.Supersede
	// Namespace to search; "" = the activity's own.
	Namespace string
}

// SupersedeOlderResult lists the pending runs that were told.
type SupersedeOlderResult struct {
	// Signalled are the workflow ids of the runs signalled, sorted. Each run
	// decides itself whether the newer analysis really is newer than its own.
	Signalled []string
}

// supersedeScan bounds the pending runs of one branch that are read; more
// than a handful means something else is wrong.
const supersedeScan = 200

// SupersedeOlder sends SignalSuperseded to every running quality-gate run
// of the same project and branch, except the newer analysis' own run.
// Signalling twice is harmless (a run that has ended is skipped; a run
// takes the first supersede), so the activity can simply be retried.
func (t *Temporal) SupersedeOlder(ctx context.Context, in SupersedeOlderInput) (SupersedeOlderResult, error) {
	if t.Client == nil {
		return SupersedeOlderResult{}, temporal.NewNonRetryableApplicationError("temporal: the worker has no Temporal client for activities (worker.Deps.Temporal)", TemporalErrorType, nil)
	}
	if in.Project == "" {
		return SupersedeOlderResult{}, temporal.NewNonRetryableApplicationError("SupersedeOlder needs the project key", TemporalErrorType, nil)
	}
	ns := in.Namespace
	if ns == "" {
		ns = activity.GetInfo(ctx).WorkflowNamespace
	}
	// Branch names may hold characters a visibility query cannot quote, so
	// the branch is compared here rather than in the query.
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running' AND %s = %s",
		contract.WorkflowQualityGate, contract.SearchAttrSASTProject.GetName(), quoteQuery(in.Project))
	var ids []string
	var token []byte
	for len(ids) < supersedeScan {
		resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: ns, Query: query, PageSize: 100, NextPageToken: token,
		})
		if err != nil {
			return SupersedeOlderResult{}, temporalError("list pending quality-gate runs of "+in.Project, err)
		}
		for _, e := range resp.Executions {
			id := e.GetExecution().GetWorkflowId()
			if id == in.Newer.WorkflowID || keywordAttr(e.GetSearchAttributes().GetIndexedFields(), contract.SearchAttrSASTBranch.GetName()) != in.Branch {
				continue
			}
			ids = append(ids, id)
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	sort.Strings(ids)
	var res SupersedeOlderResult
	for _, id := range ids {
		err := t.Client.SignalWorkflow(ctx, id, "", contract.SignalSuperseded, in.Newer)
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			continue // it ended meanwhile
		case err != nil:
			return SupersedeOlderResult{}, temporalError("signal "+id, err)
		}
		activity.GetLogger(ctx).Info("superseded an older quality-gate run", "workflowId", id, "by", in.Newer.WorkflowID)
		res.Signalled = append(res.Signalled, id)
	}
	return res, nil
}

// quoteQuery quotes a value for a visibility query.
func quoteQuery(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// keywordAttr decodes a Keyword search attribute ("" when absent).
func keywordAttr(fields map[string]*commonpb.Payload, name string) string {
	p, ok := fields[name]
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}
