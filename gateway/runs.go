package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/runsapi"
)

// Budgets of the runs API's reads.
const (
	// queryTimeout bounds one status query: a run answers at once when a
	// worker is up, and never when none is.
	queryTimeout = time.Second
	// listQueryBudget bounds all the status queries of one list.
	listQueryBudget = 2 * time.Second
	// listQueriesInFlight bounds the status queries of one list sent at once.
	listQueriesInFlight = 8
	// Limits of GET /api/v1/runs.
	defaultListLimit = 20
	maxListLimit     = 100
	// maxFilterLen caps a list filter's value.
	maxFilterLen = 256
)

// runTypes are the workflow types the runs API serves, by their API type.
var runTypes = map[string]string{
	contract.WorkflowDeploy:      runsapi.TypeDeploy,
	contract.WorkflowQualityGate: runsapi.TypeSAST,
}

// runMessage is a runs API run's Message, for the program or operator
// reading the API (never shown in Slack).
func runMessage(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// apiGetRun serves GET /api/v1/runs/:id (?runId= picks a run; default the
// latest).
func (s *Server) apiGetRun(c *gin.Context) {
	run, err := s.apiRun(context.WithoutCancel(c.Request.Context()), c.Param("id"), c.Query("runId"))
	if err != nil {
		apiFail(c, err)
		return
	}
	c.JSON(http.StatusOK, run)
}

// describeAPIRun describes a run the runs API serves: a deploy or a
// quality-gate run. Other workflows are as good as absent (404).
func (s *Server) describeAPIRun(ctx context.Context, id, runID string) (RunInfo, error) {
	if err := checkRunID(id, runID); err != nil {
		return RunInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.TemporalTimeout)
	defer cancel()
	info, err := s.starter.DescribeRun(ctx, id, runID)
	switch {
	case errors.Is(err, ErrNotFound):
		return info, apiErr(http.StatusNotFound, outcomeNotFound, "no run with id %q", id)
	case temporalUnavailable(err):
		return info, temporalDownErr(err)
	case err != nil:
		return info, apiErr(http.StatusInternalServerError, outcomeError, "Temporal could not describe run %q: %v", id, err)
	case runTypes[info.Type] == "":
		return info, apiErr(http.StatusNotFound, outcomeNotFound, "%q is not a deploy or quality-gate run", id)
	}
	return info, nil
}

// apiRun is the runs API view of one run: a running run is asked for its
// status, a completed one for its result.
func (s *Server) apiRun(ctx context.Context, id, runID string) (runsapi.Run, error) {
	info, err := s.describeAPIRun(ctx, id, runID)
	if err != nil {
		return runsapi.Run{}, err
	}
	r := s.baseRun(info)
	switch info.Status {
	case "running":
		s.askStatus(ctx, info, &r)
	case "completed":
		s.readResult(ctx, info, &r)
	}
	return r, nil
}

// baseRun is what Temporal itself knows of a run: its status, times, memo
// and search attributes.
func (s *Server) baseRun(info RunInfo) runsapi.Run {
	attr := func(k interface{ GetName() string }) string { return info.Attrs[k.GetName()] }
	r := runsapi.Run{
		ID: info.WorkflowID, RunID: info.RunID, Type: runTypes[info.Type],
		State: runsapi.StateRunning, Status: info.Status,
		App: attr(contract.SearchAttrDeployApp), Action: info.Action,
		Project: attr(contract.SearchAttrSASTProject), Branch: attr(contract.SearchAttrSASTBranch), Revision: attr(contract.SearchAttrSASTRevision),
		Outcome:   info.Outcome,
		StartedAt: info.StartTime, ClosedAt: info.CloseTime,
		URL: contract.RunURL(s.cfg.TemporalUIURL, s.cfg.TemporalNamespace, info.WorkflowID, info.RunID),
	}
	if r.Action == "" {
		r.Action = attr(contract.SearchAttrDeployAction)
	}
	by := info.RequestedBy
	if by == "" {
		by = attr(contract.SearchAttrRequestedBy)
	}
	if by != "" {
		r.RequestedBy = &runsapi.User{ID: by}
	}
	if by := attr(contract.SearchAttrApprovedBy); by != "" {
		r.DecidedBy = &runsapi.User{ID: by}
	}
	if !info.Running {
		r.State = runsapi.StateDone
		if info.Status != "completed" {
			r.Message = runMessage("the run ended %s in Temporal", info.Status)
		}
	}
	return r
}

// askStatus fills r from the run's answer to its status query; without an
// answer r keeps what Temporal knows and says so.
func (s *Server) askStatus(ctx context.Context, info RunInfo, r *runsapi.Run) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var err error
	switch r.Type {
	case runsapi.TypeDeploy:
		var st contract.DeployStatus
		if err = s.starter.QueryStatus(ctx, info.WorkflowID, info.RunID, &st); err == nil {
			r.Step, r.App, r.Action = string(st.Step), st.App, string(st.Action)
			r.RequestedBy = apiUser(&st.RequestedBy)
			r.FromRevision, r.Revision = st.FromRevision, st.ToRevision
			decided(r, st.DecidedBy, st.Outcome, st.Message)
			approved(r, st.Rule, st.Approvals)
			r.ExpiresAt = st.ExpiresAt
			if st.Step == contract.StepAwaitingApproval {
				r.State = runsapi.StateWaiting
			}
		}
	case runsapi.TypeSAST:
		var st contract.QualityGateStatus
		if err = s.starter.QueryStatus(ctx, info.WorkflowID, info.RunID, &st); err == nil {
			r.Step = string(st.Step)
			analysed(r, st.Analysis.ProjectKey, contract.SASTBranchAttr(st.Analysis), st.Analysis.Revision)
			decided(r, st.DecidedBy, st.Outcome, st.Message)
			approved(r, st.Rule, st.Approvals)
			r.ExpiresAt, r.SupersededBy = st.ExpiresAt, st.SupersededBy
			if st.Step == contract.SASTStepAwaitingDecision {
				r.State = runsapi.StateWaiting
			}
		}
	}
	if err != nil {
		s.log.Debug("run did not answer its status query", "workflowId", info.WorkflowID, "runId", info.RunID, "error", err)
		r.Message = runMessage("the worker did not answer the status query (is `deploybot worker` running?): this is what Temporal's search attributes say")
	}
}

// readResult fills r from a completed run's result.
func (s *Server) readResult(ctx context.Context, info RunInfo, r *runsapi.Run) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.TemporalTimeout)
	defer cancel()
	var err error
	switch r.Type {
	case runsapi.TypeDeploy:
		var res contract.DeployResult
		if err = s.starter.Result(ctx, info.WorkflowID, info.RunID, &res); err == nil {
			if res.App != "" {
				r.App, r.Action = res.App, string(res.Action)
			}
			if res.RequestedBy.ID != "" {
				r.RequestedBy = apiUser(&res.RequestedBy)
			}
			r.FromRevision, r.Revision = res.FromRevision, res.Revision
			decided(r, res.DecidedBy, res.Outcome, res.Message)
			approved(r, res.Rule, res.Approvals)
		}
	case runsapi.TypeSAST:
		var res contract.QualityGateResult
		if err = s.starter.Result(ctx, info.WorkflowID, info.RunID, &res); err == nil {
			analysed(r, res.ProjectKey, "", res.Revision)
			decided(r, res.DecidedBy, res.Outcome, res.Message)
			approved(r, res.Rule, res.Approvals)
			r.SupersededBy = res.SupersededBy
		}
	}
	if err != nil {
		s.log.Warn("could not read a completed run's result", "workflowId", info.WorkflowID, "runId", info.RunID, "error", err)
		r.Message = runMessage("could not read the run's result: %v", err)
	}
}

// decided fills who decided and how, keeping what r has for what the run
// does not say.
func decided(r *runsapi.Run, by *contract.User, outcome contract.Outcome, msg string) {
	if u := apiUser(by); u != nil {
		r.DecidedBy = u
	}
	setIf(&r.Outcome, string(outcome))
	setIf(&r.Message, msg)
}

// approved fills the rule and the approvals counted, when the run says.
func approved(r *runsapi.Run, rule string, approvals []contract.Approval) {
	setIf(&r.Rule, rule)
	if len(approvals) == 0 {
		return
	}
	r.Approvals = make([]runsapi.Approval, len(approvals))
	for i, a := range approvals {
		r.Approvals[i] = runsapi.Approval{User: runsapi.User{ID: a.User.ID, Name: a.User.Name, Via: a.User.Via}, At: a.At}
	}
}

// analysed fills the analysis of a quality-gate run, keeping what r has
// for what the run does not say.
func analysed(r *runsapi.Run, project, branch, revision string) {
	setIf(&r.Project, project)
	setIf(&r.Branch, branch)
	setIf(&r.Revision, revision)
}

// setIf sets *dst to v unless v is empty.
func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func apiUser(u *contract.User) *runsapi.User {
	if u == nil || u.ID == "" {
		return nil
	}
	return &runsapi.User{ID: u.ID, Name: u.Name, Via: u.Via}
}

// apiListRuns serves GET /api/v1/runs?type=&project=&branch=&revision=&app=&limit=:
// deploy and quality-gate runs from Temporal's visibility, newest first;
// running ones are asked for their status.
func (s *Server) apiListRuns(c *gin.Context) {
	query, limit, err := listQuery(c.Request.URL.Query())
	if err != nil {
		apiFail(c, err)
		return
	}
	runs, err := s.listRuns(context.WithoutCancel(c.Request.Context()), query, limit)
	switch {
	case temporalUnavailable(err):
		apiFail(c, temporalDownErr(err))
		return
	case err != nil:
		apiFail(c, apiErr(http.StatusInternalServerError, outcomeError, "Temporal refused the list query (are deploybot's search attributes declared? see `deploybot dev` or contract.SearchAttributes): %v", err))
		return
	}
	c.JSON(http.StatusOK, runsapi.RunList{Runs: runs})
}

// listRuns is the newest limit runs query matches, newest first, with what
// the running ones say and the completed ones returned: the runs API's
// list and the history command.
func (s *Server) listRuns(ctx context.Context, query string, limit int) ([]runsapi.Run, error) {
	lctx, cancel := context.WithTimeout(ctx, s.opts.TemporalTimeout)
	// Visibility lists open runs first, closed ones by close time, and SQL
	// visibility cannot order otherwise; the newest of each, merged by
	// start time, are the newest runs (closed ones up to a run that took
	// longer than those after it).
	var infos []RunInfo
	var err error
	for _, status := range []string{"ExecutionStatus = 'Running'", "ExecutionStatus != 'Running'"} {
		var some []RunInfo
		if some, err = s.starter.ListRuns(lctx, query+" AND "+status, limit); err != nil {
			break
		}
		infos = append(infos, some...)
	}
	cancel()
	if err != nil {
		if !temporalUnavailable(err) {
			s.log.Error("visibility refused the runs list query", "query", query, "error", err)
		}
		return nil, err
	}
	sort.SliceStable(infos, func(i, j int) bool { return infos[i].StartTime.After(infos[j].StartTime) })
	infos = infos[:min(len(infos), limit)]
	runs := make([]runsapi.Run, len(infos))
	for i, info := range infos {
		runs[i] = s.baseRun(info)
	}
	s.askRunning(ctx, infos, runs)
	return runs, nil
}

// askRunning asks the running runs for their status and reads the
// completed runs' results (who decided, by name, and the message), a few
// at a time and all within listQueryBudget, so a list without a worker is
// still quick; what was not read in time stays as visibility has it.
func (s *Server) askRunning(ctx context.Context, infos []RunInfo, runs []runsapi.Run) {
	ctx, cancel := context.WithTimeout(ctx, listQueryBudget)
	defer cancel()
	slots := make(chan struct{}, listQueriesInFlight)
	var wg sync.WaitGroup
	for i := range infos {
		completed := infos[i].Status == "completed"
		if !infos[i].Running && !completed {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			if completed {
				s.readResult(ctx, infos[i], &runs[i])
				return
			}
			s.askStatus(ctx, infos[i], &runs[i])
		}()
	}
	wg.Wait()
}

// listFilters are the list's filters on search attributes, by parameter.
var listFilters = []struct{ param, attr string }{
	{"project", contract.SearchAttrSASTProject.GetName()},
	{"branch", contract.SearchAttrSASTBranch.GetName()},
	{"revision", contract.SearchAttrSASTRevision.GetName()},
	{"app", contract.SearchAttrDeployApp.GetName()},
}

// listQuery builds the visibility query and the limit of a list. Values
// go into the query between single quotes, so any value that could end
// the quotes (a quote or a backslash) or is not printable is refused; so
// is one that is not UTF-8, which gRPC cannot carry (a 500 otherwise).
func listQuery(v url.Values) (string, int, error) {
	var where []string
	switch t := v.Get("type"); t {
	case "":
		where = append(where, "("+or(fmt.Sprintf("WorkflowType = '%s'", contract.WorkflowDeploy), fmt.Sprintf("WorkflowType = '%s'", contract.WorkflowQualityGate))+")")
	case runsapi.TypeDeploy:
		where = append(where, fmt.Sprintf("WorkflowType = '%s'", contract.WorkflowDeploy))
	case runsapi.TypeSAST:
		where = append(where, fmt.Sprintf("WorkflowType = '%s'", contract.WorkflowQualityGate))
	default:
		return "", 0, apiErr(http.StatusBadRequest, outcomeBadRequest, "type %q is not one of %s, %s", t, runsapi.TypeDeploy, runsapi.TypeSAST)
	}
	for _, f := range listFilters {
		val := v.Get(f.param)
		if val == "" {
			continue
		}
		if len(val) > maxFilterLen || strings.ContainsAny(val, `'"\`+"`") || !printable(val) {
			return "", 0, apiErr(http.StatusBadRequest, outcomeBadRequest, "%s %q cannot be searched for: at most %d printable characters, no quotes or backslashes", f.param, val, maxFilterLen)
		}
		where = append(where, fmt.Sprintf("%s = '%s'", f.attr, val))
	}
	limit := defaultListLimit
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxListLimit {
			return "", 0, apiErr(http.StatusBadRequest, outcomeBadRequest, "limit %q is not a number from 1 to %d", l, maxListLimit)
		}
		limit = n
	}
	return and(where...), limit, nil
}

// maxWorkflowID is Temporal's default limit on a workflow id's length.
const maxWorkflowID = 1000

// checkRunID refuses ids no deploybot run can have before they reach
// Temporal, whose answer to them is an internal error.
func checkRunID(id, runID string) error {
	shown := id
	if len(shown) > 64 {
		shown = shown[:64] + "…"
	}
	switch {
	case id == "":
		return apiErr(http.StatusBadRequest, outcomeBadRequest, "the run id is empty")
	case len(id) > maxWorkflowID:
		return apiErr(http.StatusBadRequest, outcomeBadRequest, "run id %q is %d bytes; run ids are at most %d", shown, len(id), maxWorkflowID)
	case !printable(id):
		return apiErr(http.StatusBadRequest, outcomeBadRequest, "run id %q has control characters or is not UTF-8; ids are like deploy-guestbook", shown)
	case !runIDLike(runID):
		return apiErr(http.StatusBadRequest, outcomeBadRequest, "runId %q is not a Temporal run id (a UUID)", runID)
	}
	return nil
}

// runIDLike reports whether runID may be a Temporal run id (a UUID); ""
// (the latest run) is.
func runIDLike(runID string) bool {
	return runID == "" || len(runID) <= 64 && printable(runID)
}

// printable reports whether s is UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
