package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// PodLogsClient is the Argo CD client's pod log reader; *argocd.Client
// implements it. It is separate from ArgoCDClient so fakes that do not read
// logs need not implement it.
type PodLogsClient interface {
	PodLogs(ctx context.Context, name string, tailLines int64) ([]argocd.PodLog, error)
}

var _ PodLogsClient = (*argocd.Client)(nil)

// AppStatusInput is the input of ArgoCD.AppStatus.
type AppStatusInput struct {
	App string
}

// AppStatusResult is what `status APP` shows from Argo CD.
type AppStatusResult struct {
	Project        string
	SyncStatus     string
	Health         string
	HealthMessage  string
	Revision       string
	TargetRevision string
	AutoSync       *contract.AutoSyncPolicy
	// Operation is the current (or pending) operation, else the last one;
	// nil if none ever ran.
	Operation *slackui.Operation
}

// AppStatus reads the app's sync, health, auto-sync policy and its current
// or last operation.
func (a *ArgoCD) AppStatus(ctx context.Context, in AppStatusInput) (AppStatusResult, error) {
	got, err := a.Client.GetApp(ctx, in.App)
	if err != nil {
		return AppStatusResult{}, asActivityError(err)
	}
	app := got.Application
	return AppStatusResult{
		Project:        app.Spec.Project,
		SyncStatus:     string(app.Status.Sync.Status),
		Health:         string(app.Status.Health.Status),
		HealthMessage:  app.Status.Health.Message,
		Revision:       syncRevision(app),
		TargetRevision: specTargetRevision(app),
		AutoSync:       autoSyncPolicy(got),
		Operation:      operationOf(app),
	}, nil
}

// operationOf describes app.operation (requested, maybe not started) and
// status.operationState (the running or last one).
func operationOf(app *v1alpha1.Application) *slackui.Operation {
	st := app.Status.OperationState
	if app.Operation != nil && (st == nil || st.Phase.Completed()) {
		// Requested, but the controller has not picked it up: the state
		// (if any) is the previous operation's.
		op := &slackui.Operation{Pending: true, InitiatedBy: app.Operation.InitiatedBy.Username, Automated: app.Operation.InitiatedBy.Automated}
		if s := app.Operation.Sync; s != nil {
			op.Revision = s.Revision
		}
		return op
	}
	if st == nil {
		return nil
	}
	op := &slackui.Operation{
		Phase:       string(st.Phase),
		Message:     st.Message,
		InitiatedBy: st.Operation.InitiatedBy.Username,
		Automated:   st.Operation.InitiatedBy.Automated,
		StartedAt:   st.StartedAt.Time,
	}
	if st.FinishedAt != nil {
		op.FinishedAt = st.FinishedAt.Time
	}
	switch {
	case st.SyncResult != nil && st.SyncResult.Revision != "":
		op.Revision = st.SyncResult.Revision
	case st.SyncResult != nil && len(st.SyncResult.Revisions) > 0:
		op.Revision = strings.Join(st.SyncResult.Revisions, ",")
	case st.Operation.Sync != nil:
		op.Revision = st.Operation.Sync.Revision
	}
	return op
}

// RevisionHistoryInput is the input of ArgoCD.RevisionHistory.
type RevisionHistoryInput struct {
	App string
	// Fields are the Helm parameters to show per entry (ROLLBACK_TABLE_FIELDS).
	Fields []string
	// Concurrency bounds the parallel Helm parameter lookups; <= 0 means
	// the worker's ArgoCD.LookupConcurrency.
	Concurrency int
}

// RevisionHistoryResult is the `rollback_revisions` table's data.
type RevisionHistoryResult struct {
	Project string
	// Rows are the history entries, newest first.
	Rows []contract.RevisionRow
	// Lookups is how many Helm parameter lookups were needed (one per
	// distinct source and revision); CachedLookups how many of them the
	// worker already knew; FailedLookups how many failed.
	Lookups       int
	CachedLookups int
	FailedLookups int
	// Note says why some rows show "n/a" ("" if none do).
	Note string
}

// NotAvailable is the value shown for a Helm parameter whose lookup failed.
const NotAvailable = "n/a"

// DefaultLookupConcurrency bounds parallel GetAppDetails calls
// (ARGOCD_LOOKUP_CONCURRENCY's default): each makes Argo CD's repo server
// render the chart, which is expensive, and its default parallelism is
// unlimited, so deploybot bounds it.
const DefaultLookupConcurrency = 10

// RevisionHistory lists the app's deployment history, newest first, with
// the Helm parameters named in Fields for each entry. The parameters are
// looked up in parallel (at most Concurrency at a time), once per distinct
// source and revision; a failed lookup shows NotAvailable in its rows and
// never fails the activity, because the history is worth showing anyway.
func (a *ArgoCD) RevisionHistory(ctx context.Context, in RevisionHistoryInput) (RevisionHistoryResult, error) {
	got, err := a.Client.GetApp(ctx, in.App)
	if err != nil {
		return RevisionHistoryResult{}, asActivityError(err)
	}
	app := got.Application
	hist := app.Status.History
	res := RevisionHistoryResult{Project: app.Spec.Project, Rows: make([]contract.RevisionRow, 0, len(hist))}
	for i := len(hist) - 1; i >= 0; i-- {
		h := &hist[i]
		rev := h.Revision
		if rev == "" {
			rev = strings.Join(h.Revisions, ",")
		}
		res.Rows = append(res.Rows, contract.RevisionRow{ID: h.ID, DeployedAt: h.DeployedAt.Time, Revision: rev})
	}
	if len(in.Fields) == 0 || len(hist) == 0 {
		return res, nil
	}

	// One lookup per distinct source-at-revision; rows point at theirs.
	type lookup struct {
		historyID int64
		cacheKey  string // "" if the revision may move
		params    map[string]string
		err       error
	}
	var lookups []*lookup
	byKey := map[string]*lookup{}
	rowLookup := make([]*lookup, len(res.Rows))
	for i, row := range res.Rows {
		h := argocd.HistoryEntry(app, row.ID)
		k := lookupKey(h)
		l, ok := byKey[k]
		if !ok {
			l = &lookup{historyID: row.ID}
			if immutableRevisions(h) {
				l.cacheKey = in.App + "\x00" + k // in.App: unique per instance and namespace
			}
			byKey[k] = l
			lookups = append(lookups, l)
		}
		rowLookup[i] = l
	}
	limit := in.Concurrency
	if limit <= 0 {
		limit = a.LookupConcurrency
	}
	if limit <= 0 {
		limit = DefaultLookupConcurrency
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, l := range lookups {
		if p, ok := a.HelmParams.get(l.cacheKey); ok {
			l.params = p
			res.CachedLookups++
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				l.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			l.params, l.err = a.Client.HelmParameters(ctx, got, l.historyID)
			if l.err == nil {
				a.HelmParams.add(l.cacheKey, l.params)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		// Cancelled or timed out: the activity is over, not just the lookups.
		return RevisionHistoryResult{}, ctx.Err()
	}

	res.Lookups = len(lookups)
	var firstErr error
	for _, l := range lookups {
		if l.err != nil {
			res.FailedLookups++
			if firstErr == nil {
				firstErr = l.err
			}
			activity.GetLogger(ctx).Warn("Helm parameters of a history entry unavailable", "app", in.App, "historyID", l.historyID, "error", l.err)
		}
	}
	for i := range res.Rows {
		l := rowLookup[i]
		vals := make([]string, len(in.Fields))
		for j, f := range in.Fields {
			if l.err != nil {
				vals[j] = NotAvailable
			} else {
				vals[j] = l.params[f] // "" if the chart has no such value
			}
		}
		res.Rows[i].Params = vals
	}
	if firstErr != nil {
		res.Note = slackui.ParamsPartlyUnavailable(NotAvailable, res.FailedLookups, res.Lookups, firstErr.Error())
	}
	return res, nil
}

// lookupKey identifies what GetAppDetails renders for a history entry: its
// source(s) at its revision(s). Entries that share it share one lookup.
func lookupKey(h *v1alpha1.RevisionHistory) string {
	src := h.Source.DeepCopy()
	if h.Revision != "" {
		src.TargetRevision = "" // HelmParameters uses h.Revision instead
	}
	b, err := json.Marshal(struct {
		Source    *v1alpha1.ApplicationSource
		Revision  string
		Sources   v1alpha1.ApplicationSources
		Revisions []string
	}{src, h.Revision, h.Sources, h.Revisions})
	if err != nil { // cannot happen for these types; never share then
		return fmt.Sprint(h.ID)
	}
	return string(b)
}

// PodLogsInput is the input of ArgoCD.PodLogs.
type PodLogsInput struct {
	App string
	// TailLines is how many lines per pod (ARGOCD_LOG_TAIL_LINES); <= 0 means 50.
	TailLines int64
}

// PodLogsResult holds the tail of every pod's log, grouped by pod.
type PodLogsResult struct {
	Pods []argocd.PodLog
	// Lines is the number of lines kept; OmittedLines how many older lines
	// were dropped to keep the result small (see maxLogBytes).
	Lines        int
	OmittedLines int
}

// DefaultTailLines is ARGOCD_LOG_TAIL_LINES' default.
const DefaultTailLines = 50

// Bounds on what PodLogs returns: the result is recorded in workflow
// history (then uploaded to Slack), and Temporal refuses payloads over 2 MB.
const (
	maxLogBytes    = 256 << 10
	maxLogLineRune = 2000
)

// PodLogs reads the last TailLines lines of every pod of the app. A very
// long line is cut; if all lines together pass 256 KiB, the oldest lines of
// the chattiest pods are dropped first, and OmittedLines counts them.
func (a *ArgoCD) PodLogs(ctx context.Context, in PodLogsInput) (PodLogsResult, error) {
	lc, ok := a.Client.(PodLogsClient)
	if !ok {
		return PodLogsResult{}, temporal.NewNonRetryableApplicationError(
			"pod logs: the Argo CD client cannot read logs (it does not implement PodLogs)", string(argocd.KindOther), nil)
	}
	tail := in.TailLines
	if tail <= 0 {
		tail = DefaultTailLines
	}
	if in.App == "" {
		return PodLogsResult{}, asActivityError(&argocd.Error{Kind: argocd.KindInvalidArgument, Op: "pod logs", Code: codes.InvalidArgument, Message: "application name is empty"})
	}
	pods, err := lc.PodLogs(ctx, in.App, tail)
	if err != nil {
		return PodLogsResult{}, asActivityError(err)
	}
	res := PodLogsResult{Pods: pods}
	size := 0
	for i := range pods {
		for j, l := range pods[i].Lines {
			if utf8.RuneCountInString(l) > maxLogLineRune {
				l = string([]rune(l)[:maxLogLineRune-1]) + "…"
				pods[i].Lines[j] = l
			}
			size += len(l) + 1
		}
	}
	for size > maxLogBytes {
		// Drop the oldest line of the pod with the most lines.
		k := 0
		for i := range pods {
			if len(pods[i].Lines) > len(pods[k].Lines) {
				k = i
			}
		}
		if len(pods[k].Lines) == 0 {
			break
		}
		size -= len(pods[k].Lines[0]) + 1
		pods[k].Lines = pods[k].Lines[1:]
		res.OmittedLines++
	}
	for _, p := range pods {
		res.Lines += len(p.Lines)
	}
	return res, nil
}
