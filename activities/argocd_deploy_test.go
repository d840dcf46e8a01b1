package activities_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/contract"
)

// opDuration keeps simulated operations short; nothing below asserts on time,
// loops only poll until a state is reached (bounded by waitLimit).
const (
	opDuration = 300 * time.Millisecond
	waitLimit  = 15 * time.Second
)

// startSim serves a simulator and returns a real client talking gRPC to it.
func startSim(t testing.TB, d time.Duration) (*argocd.Client, *argocdsim.Server) {
	t.Helper()
	addr, sim := simtest.Start(t, argocdsim.Options{OperationDuration: d})
	c, err := argocd.New(argocd.Options{URL: "http://" + addr, Token: argocdsim.DefaultToken, VerifySSL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, sim
}

func activityEnv(a *activities.ArgoCD) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env
}

// run executes one activity attempt and decodes its result.
func run[R any](t testing.TB, env *testsuite.TestActivityEnvironment, fn, in any) (R, error) {
	t.Helper()
	var res R
	val, err := env.ExecuteActivity(fn, in)
	if err != nil {
		return res, err
	}
	if err := val.Get(&res); err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return res, nil
}

func mustRun[R any](t testing.TB, env *testsuite.TestActivityEnvironment, fn, in any) R {
	t.Helper()
	res, err := run[R](t, env, fn, in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wantAppErr checks that err is an ApplicationError of kind with the given retryability.
func wantAppErr(t *testing.T, err error, kind argocd.Kind, retryable bool) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v (%T) is not an ApplicationError", err, err)
	}
	if appErr.Type() != string(kind) || appErr.NonRetryable() == retryable {
		t.Fatalf("type=%s nonRetryable=%v, want %s and %v; error: %v", appErr.Type(), appErr.NonRetryable(), kind, !retryable, err)
	}
	return appErr
}

// follow polls GetAppState until the operation started after baseline has
// ended and health has left Progressing, checking on every look that the
// fields are consistent with each other.
func follow(t *testing.T, env *testsuite.TestActivityEnvironment, a *activities.ArgoCD, app string, baseline time.Time) activities.AppStateResult {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var seen []string
	for {
		st := mustRun[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: app})
		seen = append(seen, st.Phase+"/"+st.Health)
		ours := st.OperationStartedAt.After(baseline)
		if st.OperationPending && !st.OperationStartedAt.IsZero() && !ours {
			t.Fatalf("pending operation reports the previous operation's startedAt %v (baseline %v)", st.OperationStartedAt, baseline)
		}
		if st.OperationPending && st.Phase != "" && st.Phase != "Running" {
			t.Fatalf("pending operation in phase %q", st.Phase)
		}
		if st.Health != "Healthy" && len(st.Unhealthy) == 0 {
			t.Fatalf("health %s but no unhealthy resources listed: %+v", st.Health, st)
		}
		if st.Health == "Healthy" && len(st.Unhealthy) != 0 {
			t.Fatalf("healthy app lists unhealthy resources: %+v", st.Unhealthy)
		}
		if !st.OperationPending && ours && st.Phase != "Running" && st.Health != "Progressing" {
			t.Logf("%s: states seen: %v", app, seen)
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not settle; states seen: %v; last: %+v", app, seen, st)
		}
		time.Sleep(opDuration / 20)
	}
}

func TestPrepareDeploySync(t *testing.T) {
	c, _ := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	res := mustRun[activities.PrepareDeployResult](t, env, a.PrepareDeploy, activities.PrepareDeployInput{App: "guestbook", Action: contract.ActionSync})
	if res.Project != "default" || res.TargetRevision != "HEAD" || len(res.CurrentRevision) != 40 ||
		res.SyncStatus != "Synced" || res.Health != "Healthy" || res.AutoSync != nil || len(res.Params) != 0 || res.ParamsNote != "" {
		t.Errorf("guestbook sync: %+v", res)
	}

	// The commits behind both revisions, from Argo CD's RevisionMetadata.
	for which, c := range map[string]*contract.Commit{"from": res.FromCommit, "to": res.ToCommit} {
		if c == nil || c.Author == "" || c.Message == "" || c.Date.IsZero() {
			t.Errorf("guestbook sync: %s commit = %+v, want author, message and date", which, c)
		}
	}

	res = mustRun[activities.PrepareDeployResult](t, env, a.PrepareDeploy, activities.PrepareDeployInput{App: "payments", Action: contract.ActionSync})
	if want := (contract.AutoSyncPolicy{Prune: true, SelfHeal: true}); res.AutoSync == nil || *res.AutoSync != want {
		t.Errorf("payments AutoSync = %+v, want %+v", res.AutoSync, want)
	}
	if res.Project != "payments" {
		t.Errorf("payments project = %q", res.Project)
	}

	res = mustRun[activities.PrepareDeployResult](t, env, a.PrepareDeploy, activities.PrepareDeployInput{App: "frontend", Action: contract.ActionSync})
	if res.SyncStatus != "OutOfSync" {
		t.Errorf("frontend sync status = %q, want OutOfSync", res.SyncStatus)
	}
}

func TestPrepareDeployRollbackShowsTargetParams(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	prep := func(id int64, names ...string) activities.PrepareDeployResult {
		return mustRun[activities.PrepareDeployResult](t, env, a.PrepareDeploy,
			activities.PrepareDeployInput{App: "guestbook", Action: contract.ActionRollback, HistoryID: id, ParamNames: names})
	}
	param := func(r activities.PrepareDeployResult, name string) string {
		for _, p := range r.Params {
			if p.Name == name {
				return p.Value
			}
		}
		t.Fatalf("no parameter %s in %+v", name, r.Params)
		return ""
	}
	r3, r4 := prep(3), prep(4)
	for _, r := range []activities.PrepareDeployResult{r3, r4} {
		if r.ParamsNote != "" || len(r.Params) == 0 || r.TargetDeployedAt.IsZero() || len(r.TargetRevision) != 40 || r.Project != "default" {
			t.Errorf("rollback target: %+v", r)
		}
		for i := 1; i < len(r.Params); i++ {
			if r.Params[i-1].Name >= r.Params[i].Name {
				t.Errorf("params not sorted by name: %+v", r.Params)
			}
		}
	}
	if r3.TargetRevision == r4.TargetRevision || !r3.TargetDeployedAt.Before(r4.TargetDeployedAt) {
		t.Errorf("history 3 and 4 should differ: %s@%v vs %s@%v", r3.TargetRevision, r3.TargetDeployedAt, r4.TargetRevision, r4.TargetDeployedAt)
	}
	if got := param(r3, "image.tag"); got != "v1.3.0" {
		t.Errorf("history 3 image.tag = %q", got)
	}
	if got := param(r4, "image.tag"); got != "v1.4.0" {
		t.Errorf("history 4 image.tag = %q", got)
	}
	if param(r3, "replicaCount") == param(r4, "replicaCount") {
		t.Errorf("replicaCount should differ between history 3 and 4")
	}

	some := prep(4, "replicaCount", "image.tag", "no.such.param")
	if len(some.Params) != 2 || some.Params[0].Name != "image.tag" || some.Params[1].Name != "replicaCount" {
		t.Errorf("ParamNames filter: %+v", some.Params)
	}

	// Plain manifests have no Helm parameters; that is not a failure.
	plain := mustRun[activities.PrepareDeployResult](t, env, a.PrepareDeploy,
		activities.PrepareDeployInput{App: "search", Action: contract.ActionRollback, HistoryID: 1})
	if len(plain.Params) != 0 || plain.ParamsNote != "" || plain.TargetRevision == "" {
		t.Errorf("search rollback target: %+v", plain)
	}

	// A failed Helm lookup is reported, never fatal.
	sim.FailNext("GetAppDetails", 1, codes.Internal)
	noted := prep(4)
	if len(noted.Params) != 0 || !strings.HasPrefix(noted.ParamsNote, "Helm parameters unavailable: ") || noted.TargetRevision != r4.TargetRevision {
		t.Errorf("failed lookup: %+v", noted)
	}
	if sim.Calls("Rollback", "guestbook") != 0 {
		t.Errorf("PrepareDeploy must not roll back")
	}
}

func TestPrepareDeployRefusesWhatArgoCDWould(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	_, err := run[activities.PrepareDeployResult](t, env, a.PrepareDeploy,
		activities.PrepareDeployInput{App: "guestbook", Action: contract.ActionRollback, HistoryID: 999})
	ae := wantAppErr(t, err, argocd.KindUnknownHistoryID, false)
	for _, s := range []string{"application guestbook does not have deployment with id 999", "rollback_revisions guestbook"} {
		if !strings.Contains(ae.Error(), s) {
			t.Errorf("message %q lacks %q", ae.Error(), s)
		}
	}
	if sim.Calls("GetAppDetails", "guestbook") != 0 {
		t.Errorf("no Helm lookup for an unknown history id")
	}

	// The simulator, like Argo CD, says PermissionDenied for unknown apps.
	_, err = run[activities.PrepareDeployResult](t, env, a.PrepareDeploy,
		activities.PrepareDeployInput{App: "no-such-app", Action: contract.ActionSync})
	ae = wantAppErr(t, err, argocd.KindPermissionDenied, false)
	if !strings.Contains(ae.Error(), "list_apps") {
		t.Errorf("message %q should tell how to check the name", ae.Error())
	}

	_, err = run[activities.PrepareDeployResult](t, env, a.PrepareDeploy,
		activities.PrepareDeployInput{App: "guestbook", Action: "redeploy"})
	wantAppErr(t, err, argocd.KindInvalidArgument, false)
}

func TestSyncTimelineEndsHealthy(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	before := mustRun[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: "guestbook"})
	if before.OperationPending || before.Phase != "Succeeded" || before.OperationStartedAt.IsZero() ||
		before.Health != "Healthy" || before.SyncStatus != "Synced" || len(before.Unhealthy) != 0 {
		t.Fatalf("seeded guestbook: %+v", before)
	}
	res := mustRun[activities.StartOperationResult](t, env, a.StartOperation,
		activities.StartOperationInput{App: "guestbook", Action: contract.ActionSync, BaselineStartedAt: before.OperationStartedAt})
	if res.AlreadyStarted {
		t.Error("first attempt reported AlreadyStarted")
	}
	if n := sim.Calls("Sync", "guestbook"); n != 1 {
		t.Errorf("Sync calls = %d, want 1", n)
	}
	end := follow(t, env, a, "guestbook", before.OperationStartedAt)
	if end.Phase != "Succeeded" || end.Health != "Healthy" || end.SyncStatus != "Synced" || end.Revision != before.Revision || end.OperationMessage == "" {
		t.Errorf("after sync: %+v", end)
	}
	if n := sim.Calls("Sync", "guestbook"); n != 1 {
		t.Errorf("Sync calls = %d, want 1", n)
	}
}

func TestDegradedAppListsUnhealthyResources(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	before := mustRun[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: "checkout"})
	mustRun[activities.StartOperationResult](t, env, a.StartOperation,
		activities.StartOperationInput{App: "checkout", Action: contract.ActionSync, BaselineStartedAt: before.OperationStartedAt})
	end := follow(t, env, a, "checkout", before.OperationStartedAt)
	if end.Phase != "Succeeded" || end.Health != "Degraded" {
		t.Fatalf("checkout after sync: %+v", end)
	}
	kinds := map[string]contract.Resource{}
	for _, r := range end.Unhealthy {
		kinds[r.Kind] = r
		if r.Health == "Healthy" || r.Name == "" {
			t.Errorf("listed %+v", r)
		}
	}
	dep, ok := kinds["Deployment"]
	if !ok || dep.Name != "checkout" || dep.Health != "Degraded" || !strings.Contains(dep.Message, "progress deadline") {
		t.Errorf("Deployment not listed as Degraded with its message: %+v", end.Unhealthy)
	}
	if pod, ok := kinds["Pod"]; !ok || !strings.Contains(pod.Message, "back-off") {
		t.Errorf("pods (from the resource tree) not listed: %+v", end.Unhealthy)
	}
	if _, ok := kinds["Service"]; ok {
		t.Errorf("healthy Service listed: %+v", end.Unhealthy)
	}

	// Without the resource tree, status.resources still names the Deployment.
	sim.FailNext("ResourceTree", 1, codes.Internal)
	fallback := mustRun[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: "checkout"})
	if len(fallback.Unhealthy) != 1 || fallback.Unhealthy[0].Kind != "Deployment" || fallback.Unhealthy[0].Health != "Degraded" {
		t.Errorf("fallback to status.resources: %+v", fallback.Unhealthy)
	}
}

func TestRollbackUnderAutoSyncThenDisable(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	prep := mustRun[activities.PrepareDeployResult](t, env, a.PrepareDeploy,
		activities.PrepareDeployInput{App: "payments", Action: contract.ActionRollback, HistoryID: 5})
	before := mustRun[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: "payments"})
	in := activities.StartOperationInput{App: "payments", Action: contract.ActionRollback, HistoryID: 5, BaselineStartedAt: before.OperationStartedAt}

	_, err := run[activities.StartOperationResult](t, env, a.StartOperation, in)
	ae := wantAppErr(t, err, argocd.KindAutoSyncEnabled, false)
	if !strings.Contains(ae.Error(), "disable auto-sync") {
		t.Errorf("message %q should say to disable auto-sync", ae.Error())
	}

	dis := mustRun[activities.DisableAutoSyncResult](t, env, a.DisableAutoSync, activities.DisableAutoSyncInput{App: "payments"})
	if want := (contract.AutoSyncPolicy{Prune: true, SelfHeal: true}); dis.Removed == nil || *dis.Removed != want || *prep.AutoSync != want {
		t.Fatalf("Removed = %+v, PrepareDeploy saw %+v, want %+v", dis.Removed, prep.AutoSync, want)
	}
	app, err := c.GetApp(context.Background(), "payments")
	if err != nil {
		t.Fatal(err)
	}
	if sp := app.Spec.SyncPolicy; sp == nil || sp.Automated != nil || sp.Retry == nil || len(sp.SyncOptions) != 3 {
		t.Errorf("sync policy after disable: %+v", sp)
	}
	again := mustRun[activities.DisableAutoSyncResult](t, env, a.DisableAutoSync, activities.DisableAutoSyncInput{App: "payments"})
	if again.Removed != nil {
		t.Errorf("second disable removed %+v, want nil", again.Removed)
	}

	mustRun[activities.StartOperationResult](t, env, a.StartOperation, in)
	if n := sim.Calls("Rollback", "payments"); n != 2 {
		t.Errorf("Rollback calls = %d, want 2 (refused, then accepted)", n)
	}
	end := follow(t, env, a, "payments", before.OperationStartedAt)
	if end.Phase != "Succeeded" || end.Health != "Healthy" || end.Revision != prep.TargetRevision || end.AutoSync != nil {
		t.Errorf("after rollback: %+v (want revision %s)", end, prep.TargetRevision)
	}
	// After a rollback the spec still targets HEAD, as in Argo CD.
	if end.SyncStatus != "OutOfSync" {
		t.Errorf("sync status after rollback = %q, want OutOfSync", end.SyncStatus)
	}
}

func TestOperationInProgressIsNonRetryable(t *testing.T) {
	// Long operations, so the first is surely still running at the second call.
	c, sim := startSim(t, time.Minute)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	in := activities.StartOperationInput{App: "guestbook", Action: contract.ActionSync}
	mustRun[activities.StartOperationResult](t, env, a.StartOperation, in)
	st := mustRun[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: "guestbook"})
	if !st.OperationPending {
		t.Errorf("operation not pending right after start: %+v", st)
	}
	_, err := run[activities.StartOperationResult](t, env, a.StartOperation, in)
	wantAppErr(t, err, argocd.KindOperationInProgress, false)
	_, err = run[activities.StartOperationResult](t, env, a.StartOperation,
		activities.StartOperationInput{App: "guestbook", Action: contract.ActionRollback, HistoryID: 3})
	wantAppErr(t, err, argocd.KindOperationInProgress, false)
	if n := sim.Calls("Sync", "guestbook"); n != 2 {
		t.Errorf("Sync calls = %d, want 2", n)
	}
}

func TestUnavailableIsRetryable(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)
	sim.SetDown(true)

	calls := map[string]func() error{
		"PrepareDeploy": func() error {
			_, err := run[activities.PrepareDeployResult](t, env, a.PrepareDeploy, activities.PrepareDeployInput{App: "guestbook", Action: contract.ActionSync})
			return err
		},
		"GetAppState": func() error {
			_, err := run[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: "guestbook"})
			return err
		},
		"StartOperation": func() error {
			_, err := run[activities.StartOperationResult](t, env, a.StartOperation, activities.StartOperationInput{App: "guestbook", Action: contract.ActionSync})
			return err
		},
		"DisableAutoSync": func() error {
			_, err := run[activities.DisableAutoSyncResult](t, env, a.DisableAutoSync, activities.DisableAutoSyncInput{App: "payments"})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ae := wantAppErr(t, call(), argocd.KindUnavailable, true)
			if !strings.Contains(ae.Error(), "ARGOCD_URL") {
				t.Errorf("message %q should say what to check", ae.Error())
			}
		})
	}
	sim.SetDown(false)
	if _, err := run[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: "guestbook"}); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

// lossyClient passes calls to the simulator but lets a test interfere with
// Sync and GetApp, to model an attempt whose request reached Argo CD while
// its answer was lost.
type lossyClient struct {
	*argocd.Client
	syncHook func(ctx context.Context, c *argocd.Client, name string) (*v1alpha1.Application, error)
	getHook  func(ctx context.Context, c *argocd.Client, name string)
}

func (l *lossyClient) Sync(ctx context.Context, name string, opts argocd.SyncOptions) (*v1alpha1.Application, error) {
	if l.syncHook != nil {
		return l.syncHook(ctx, l.Client, name)
	}
	return l.Client.Sync(ctx, name, opts)
}

func (l *lossyClient) GetApp(ctx context.Context, name string) (*argocd.App, error) {
	app, err := l.Client.GetApp(ctx, name)
	if l.getHook != nil {
		l.getHook(ctx, l.Client, name)
	}
	return app, err
}

var errLostAnswer = &argocd.Error{Kind: argocd.KindUnavailable, Op: "sync", App: "guestbook", Code: codes.Unavailable, Message: "connection reset (test)"}

// startOperationWorkflow runs StartOperation the way DeployWorkflow would,
// so the test environment retries it with increasing attempt numbers.
func startOperationWorkflow(ctx workflow.Context, in activities.StartOperationInput) (activities.StartOperationResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Millisecond, MaximumAttempts: 3},
	})
	var res activities.StartOperationResult
	err := workflow.ExecuteActivity(ctx, "StartOperation", in).Get(ctx, &res)
	return res, err
}

// runRetried runs StartOperation for a guestbook sync through a workflow and
// returns its result and the last attempt number.
func runRetried(t *testing.T, client activities.ArgoCDClient, baseline time.Time) (activities.StartOperationResult, int32) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(waitLimit)
	env.RegisterWorkflow(startOperationWorkflow)
	env.RegisterActivity(&activities.ArgoCD{Client: client})
	var attempt atomic.Int32
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		attempt.Store(info.Attempt)
	})
	env.ExecuteWorkflow(startOperationWorkflow, activities.StartOperationInput{App: "guestbook", Action: contract.ActionSync, BaselineStartedAt: baseline})
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res activities.StartOperationResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res, attempt.Load()
}

func baselineOf(t *testing.T, c *argocd.Client, app string) time.Time {
	t.Helper()
	a, err := c.GetApp(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status.OperationState.StartedAt.Time
}

func TestStartOperationRetryDoesNotStartTwice(t *testing.T) {
	t.Run("operation still pending", func(t *testing.T) {
		c, sim := startSim(t, opDuration)
		base := baselineOf(t, c, "guestbook")
		var once sync.Once
		lc := &lossyClient{Client: c}
		lc.syncHook = func(ctx context.Context, c *argocd.Client, name string) (*v1alpha1.Application, error) {
			app, err := c.Sync(ctx, name, argocd.SyncOptions{})
			once.Do(func() { app, err = nil, errLostAnswer })
			return app, err
		}
		res, attempt := runRetried(t, lc, base)
		if !res.AlreadyStarted || attempt != 2 {
			t.Errorf("AlreadyStarted=%v on attempt %d, want true on 2", res.AlreadyStarted, attempt)
		}
		if n := sim.Calls("Sync", "guestbook"); n != 1 {
			t.Errorf("Sync calls = %d, want 1", n)
		}
	})

	t.Run("operation already finished", func(t *testing.T) {
		c, sim := startSim(t, opDuration)
		base := baselineOf(t, c, "guestbook")
		var once sync.Once
		lc := &lossyClient{Client: c}
		lc.syncHook = func(ctx context.Context, c *argocd.Client, name string) (*v1alpha1.Application, error) {
			app, err := c.Sync(ctx, name, argocd.SyncOptions{})
			once.Do(func() {
				// Let the operation end before the retry looks, so only
				// operationState.startedAt tells it happened.
				deadline := time.Now().Add(waitLimit)
				for {
					a, gerr := c.GetApp(ctx, name)
					if gerr == nil && a.Operation == nil && a.Status.OperationState != nil && a.Status.OperationState.StartedAt.After(base) {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("operation did not end")
						break
					}
					time.Sleep(opDuration / 20)
				}
				app, err = nil, errLostAnswer
			})
			return app, err
		}
		res, attempt := runRetried(t, lc, base)
		if !res.AlreadyStarted || attempt != 2 {
			t.Errorf("AlreadyStarted=%v on attempt %d, want true on 2", res.AlreadyStarted, attempt)
		}
		if n := sim.Calls("Sync", "guestbook"); n != 1 {
			t.Errorf("Sync calls = %d, want 1", n)
		}
	})

	t.Run("earlier request still in flight", func(t *testing.T) {
		c, sim := startSim(t, opDuration)
		base := baselineOf(t, c, "guestbook")
		var first, landed sync.Once
		lc := &lossyClient{Client: c}
		// Attempt 1 times out before its request reaches Argo CD ...
		lc.syncHook = func(ctx context.Context, c *argocd.Client, name string) (*v1alpha1.Application, error) {
			failed := false
			first.Do(func() { failed = true })
			if failed {
				return nil, errLostAnswer
			}
			return c.Sync(ctx, name, argocd.SyncOptions{})
		}
		// ... and it lands just after attempt 2 looked at the app.
		lc.getHook = func(ctx context.Context, c *argocd.Client, name string) {
			landed.Do(func() {
				if _, err := c.Sync(ctx, name, argocd.SyncOptions{}); err != nil {
					t.Errorf("delayed sync: %v", err)
				}
			})
		}
		res, attempt := runRetried(t, lc, base)
		if !res.AlreadyStarted || attempt != 2 {
			t.Errorf("AlreadyStarted=%v on attempt %d, want true on 2", res.AlreadyStarted, attempt)
		}
		// The delayed request started the operation; attempt 2's was refused.
		if n := sim.Calls("Sync", "guestbook"); n != 2 {
			t.Errorf("Sync calls = %d, want 2", n)
		}
	})

	t.Run("earlier attempt never reached Argo CD", func(t *testing.T) {
		c, sim := startSim(t, opDuration)
		base := baselineOf(t, c, "guestbook")
		sim.FailNext("Sync", 1, codes.Unavailable)
		res, attempt := runRetried(t, c, base)
		if res.AlreadyStarted || attempt != 2 {
			t.Errorf("AlreadyStarted=%v on attempt %d, want false on 2", res.AlreadyStarted, attempt)
		}
		// The refused call is counted too; the second one started the operation.
		if n := sim.Calls("Sync", "guestbook"); n != 2 {
			t.Errorf("Sync calls = %d, want 2", n)
		}
		app, err := c.GetApp(context.Background(), "guestbook")
		if err != nil {
			t.Fatal(err)
		}
		if app.Operation == nil && (app.Status.OperationState == nil || !app.Status.OperationState.StartedAt.After(base)) {
			t.Errorf("no operation started")
		}
	})
}

// stateFake serves one app and its tree, for shapes the simulator does not
// produce (many pods, health messages only in the tree).
type stateFake struct {
	fakeArgo
	app  *v1alpha1.Application
	tree *v1alpha1.ApplicationTree
}

func (f *stateFake) GetApp(context.Context, string) (*argocd.App, error) {
	return &argocd.App{Application: f.app}, nil
}
func (f *stateFake) ResourceTree(context.Context, string) (*v1alpha1.ApplicationTree, error) {
	return f.tree, nil
}

func TestUnhealthyResourcesMergedAndBounded(t *testing.T) {
	degraded := func(msg string) *v1alpha1.HealthStatus {
		return &v1alpha1.HealthStatus{Status: "Degraded", Message: msg}
	}
	ref := func(kind, name string) v1alpha1.ResourceRef {
		return v1alpha1.ResourceRef{Group: "apps", Kind: kind, Namespace: "web", Name: name}
	}
	a := app("web", "default", false)
	a.Status.Health = v1alpha1.HealthStatus{Status: "Degraded"}
	a.Status.Resources = []v1alpha1.ResourceStatus{
		{Group: "apps", Kind: "Deployment", Namespace: "web", Name: "web", Health: degraded("")}, // message not persisted
		{Kind: "ConfigMap", Namespace: "web", Name: "cfg"},                                       // no health assessment
		{Kind: "Service", Namespace: "web", Name: "web", Health: &v1alpha1.HealthStatus{Status: "Healthy"}},
	}
	tree := &v1alpha1.ApplicationTree{Nodes: []v1alpha1.ResourceNode{
		{ResourceRef: ref("Deployment", "web"), Health: degraded("exceeded its progress deadline")},
	}}
	for i := 0; i < 30; i++ {
		tree.Nodes = append(tree.Nodes, v1alpha1.ResourceNode{ResourceRef: ref("Pod", "web-"+strings.Repeat("x", i+1)), Health: degraded("back-off")})
	}
	f := &stateFake{app: &a, tree: tree}
	act := &activities.ArgoCD{Client: f}
	st := mustRun[activities.AppStateResult](t, activityEnv(act), act.GetAppState, activities.AppStateInput{App: "web"})
	if len(st.Unhealthy) != 20 || st.UnhealthyOmitted != 11 {
		t.Fatalf("got %d listed + %d omitted, want 20 + 11", len(st.Unhealthy), st.UnhealthyOmitted)
	}
	if d := st.Unhealthy[0]; d.Kind != "Deployment" || d.Message != "exceeded its progress deadline" {
		t.Errorf("first = %+v, want the Deployment with the tree's message", d)
	}
	for _, r := range st.Unhealthy[1:] {
		if r.Kind != "Pod" {
			t.Errorf("unexpected %+v", r)
		}
	}
}

// TestSyncCarriesWhoAskedAndApproved: Argo CD's own operation view shows the
// requester, the approver and the run, not just deploybot's account.
func TestSyncCarriesWhoAskedAndApproved(t *testing.T) {
	c, _ := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)
	before := mustRun[activities.AppStateResult](t, env, a.GetAppState, activities.AppStateInput{App: "guestbook"})
	mustRun[activities.StartOperationResult](t, env, a.StartOperation, activities.StartOperationInput{
		App: "guestbook", Action: contract.ActionSync, BaselineStartedAt: before.OperationStartedAt,
		RequestedBy: contract.User{ID: "U0ALICE", Name: "alice"},
		ApprovedBy:  &contract.User{ID: "U0BOB", Name: "bob", Via: "token ci"},
		Run:         "http://localhost:8233/namespaces/default/workflows/deploy-guestbook/run-1",
	})
	app, err := c.GetApp(context.Background(), "guestbook")
	if err != nil {
		t.Fatal(err)
	}
	op := app.Operation
	if op == nil && app.Status.OperationState != nil {
		op = &app.Status.OperationState.Operation
	}
	if op == nil {
		t.Fatal("no operation recorded")
	}
	got := map[string]string{}
	for _, i := range op.Info {
		got[i.Name] = i.Value
	}
	want := map[string]string{
		"Requested by":  "alice (U0ALICE)",
		"Approved by":   "bob (U0BOB) via token ci",
		"deploybot run": "http://localhost:8233/namespaces/default/workflows/deploy-guestbook/run-1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("info %q = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// SyncPreview reads Argo CD's managed resources over gRPC: an OutOfSync app
// shows what its sync changes, a Synced one nothing.
func TestSyncPreviewOverGRPC(t *testing.T) {
	c, _ := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)
	p := mustRun[contract.Preview](t, env, a.SyncPreview, activities.SyncPreviewInput{App: "frontend"})
	if len(p.Resources) == 0 || p.Resources[0].Change != contract.ChangeUpdate || len(p.Resources[0].Fields) == 0 {
		t.Errorf("frontend (OutOfSync) preview = %+v, want an update with its fields", p)
	}
	if p := mustRun[contract.Preview](t, env, a.SyncPreview, activities.SyncPreviewInput{App: "guestbook"}); len(p.Resources) != 0 {
		t.Errorf("guestbook (Synced) preview = %+v, want no change", p)
	}
}

// windowsClosed is the simulator's client with a deny window in force.
type windowsClosed struct{ *argocd.Client }

func (windowsClosed) SyncWindows(context.Context, string) (bool, []argocd.SyncWindow, error) {
	return false, []argocd.SyncWindow{{Kind: "deny", Schedule: "0 22 * * *", Duration: "8h"}}, nil
}

// PrepareDeploy reads Argo CD's sync windows: the simulator's allow a
// sync; a deny window in force is named for the refusal.
func TestPrepareDeployReadsSyncWindows(t *testing.T) {
	c, _ := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	res := mustRun[activities.PrepareDeployResult](t, activityEnv(a), a.PrepareDeploy, activities.PrepareDeployInput{App: "guestbook", Action: contract.ActionSync})
	if res.SyncWindowBlock != "" {
		t.Errorf("the simulator's windows block: %q", res.SyncWindowBlock)
	}
	closed := &activities.ArgoCD{Client: windowsClosed{c}}
	res = mustRun[activities.PrepareDeployResult](t, activityEnv(closed), closed.PrepareDeploy, activities.PrepareDeployInput{App: "guestbook", Action: contract.ActionSync})
	if res.SyncWindowBlock != `deny "0 22 * * *" for 8h` {
		t.Errorf("SyncWindowBlock = %q", res.SyncWindowBlock)
	}
}

// A rollback's preview renders the history entry's revision through Argo
// CD's GetManifests over gRPC and compares it with the live state: rolling
// guestbook back to an older entry changes its Deployment's image; the
// entry it runs now changes nothing; an unknown entry fails like Argo CD's
// rollback would.
func TestRollbackPreviewOverGRPC(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)
	got, err := c.GetApp(context.Background(), "guestbook")
	if err != nil {
		t.Fatal(err)
	}
	hist := got.Status.History
	oldest, newest := hist[0], hist[len(hist)-1]
	p := mustRun[contract.Preview](t, env, a.SyncPreview, activities.SyncPreviewInput{App: "guestbook", Rollback: true, HistoryID: oldest.ID})
	if p.Rollback == nil || p.Rollback.HistoryID != oldest.ID || p.Rollback.Revision != oldest.Revision {
		t.Fatalf("rollback target = %+v, want entry %d at %s", p.Rollback, oldest.ID, oldest.Revision)
	}
	var image bool
	for _, r := range p.Resources {
		for _, f := range r.Fields {
			if r.Kind == "Deployment" && strings.HasSuffix(f.Path, ".image") && f.From != f.To {
				image = true
			}
		}
	}
	if !image {
		t.Errorf("preview of the rollback to entry %d = %+v, want the Deployment's image to change", oldest.ID, p.Resources)
	}
	if sim.Calls("GetManifests", "guestbook") != 1 {
		t.Errorf("GetManifests calls = %d, want 1 (%+v)", sim.Calls("GetManifests", "guestbook"), sim.Stats())
	}
	if p := mustRun[contract.Preview](t, env, a.SyncPreview, activities.SyncPreviewInput{App: "guestbook", Rollback: true, HistoryID: newest.ID}); len(p.Resources) != 0 {
		t.Errorf("preview of a rollback to the running entry %d = %+v, want no change", newest.ID, p.Resources)
	}
	_, err = env.ExecuteActivity(a.SyncPreview, activities.SyncPreviewInput{App: "guestbook", Rollback: true, HistoryID: 999})
	if err == nil || !strings.Contains(err.Error(), "does not have deployment with id 999") {
		t.Errorf("unknown entry: %v", err)
	}
}
