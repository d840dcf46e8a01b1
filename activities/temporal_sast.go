package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
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
	// Newer is the latest run of the branch that comes after the caller
	// (contract.GateOrder), running or ended: the caller's delivery is not
	// the gate's current state. nil when the caller is the latest.
	Newer *contract.Supersede
}

// supersedeScan bounds the runs of one branch that are read; the newest
// come first, and older ones ended long ago.
const supersedeScan = 200

// SupersedeOlder places the caller among the quality-gate runs of the same
// project and branch: it sends SignalSuperseded to every running run that
// comes before it, and reports the latest run that comes after it, if any.
// Runs are ordered by contract.GateOrder from their memo and start time;
// a run without the memo (started before it was set) is taken as older.
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
	self := in.Newer.Order()
	// Branch names may hold characters a visibility query cannot quote, so
	// the branch is compared here rather than in the query.
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = %s",
		contract.WorkflowQualityGate, contract.SearchAttrSASTProject.GetName(), quoteQuery(in.Project))
	var older []string
	var res SupersedeOlderResult
	var newest contract.GateOrder
	var token []byte
	for scanned := 0; scanned < supersedeScan; {
		resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: ns, Query: query, PageSize: 100, NextPageToken: token,
		})
		if err != nil {
			return SupersedeOlderResult{}, temporalError("list the quality-gate runs of "+in.Project, err)
		}
		for _, e := range resp.Executions {
			scanned++
			id := e.GetExecution().GetWorkflowId()
			if id == in.Newer.WorkflowID || keywordAttr(e.GetSearchAttributes().GetIndexedFields(), contract.SearchAttrSASTBranch.GetName()) != in.Branch {
				continue
			}
			running := e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			at, ok := memoTime(e.GetMemo().GetFields(), contract.MemoSASTEvaluatedAt)
			if !ok {
				if running {
					older = append(older, id)
				}
				continue
			}
			o := contract.GateOrder{EvaluatedAt: at, StartedAt: e.GetStartTime().AsTime(), WorkflowID: id}
			switch {
			case o.After(self):
				if res.Newer == nil || o.After(newest) {
					newest = o
					res.Newer = &contract.Supersede{WorkflowID: id, EvaluatedAt: at, StartedAt: o.StartedAt,
						Revision:   keywordAttr(e.GetSearchAttributes().GetIndexedFields(), contract.SearchAttrSASTRevision.GetName()),
						GatePassed: keywordAttr(e.GetSearchAttributes().GetIndexedFields(), contract.SearchAttrSASTOutcome.GetName()) == string(contract.OutcomePassed)}
				}
			case running:
				older = append(older, id)
			}
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	sort.Strings(older)
	for _, id := range older {
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

// memoTime decodes an RFC 3339 timestamp from a memo field.
func memoTime(fields map[string]*commonpb.Payload, key string) (time.Time, bool) {
	p, ok := fields[key]
	if !ok {
		return time.Time{}, false
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
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
