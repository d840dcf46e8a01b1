package activities_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/contract"
)

func TestAppStatusReadsTheApp(t *testing.T) {
	c, _ := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	gb := mustRun[activities.AppStatusResult](t, env, a.AppStatus, activities.AppStatusInput{App: "guestbook"})
	if gb.Project != "default" || gb.SyncStatus != "Synced" || gb.Health != "Healthy" || len(gb.Revision) != 40 ||
		gb.TargetRevision != "HEAD" || gb.AutoSync != nil {
		t.Errorf("guestbook = %+v", gb)
	}
	op := gb.Operation
	if op == nil || op.Phase != "Succeeded" || op.Pending || op.InitiatedBy != "admin" || op.Revision != gb.Revision ||
		op.StartedAt.IsZero() || !op.FinishedAt.After(op.StartedAt) || op.Message == "" {
		t.Errorf("guestbook operation = %+v", op)
	}

	pay := mustRun[activities.AppStatusResult](t, env, a.AppStatus, activities.AppStatusInput{App: "payments"})
	if pay.AutoSync == nil || !pay.AutoSync.Prune || !pay.AutoSync.SelfHeal {
		t.Errorf("payments auto-sync = %+v", pay.AutoSync)
	}
	if fe := mustRun[activities.AppStatusResult](t, env, a.AppStatus, activities.AppStatusInput{App: "frontend"}); fe.SyncStatus != "OutOfSync" {
		t.Errorf("frontend = %+v", fe)
	}

	_, err := run[activities.AppStatusResult](t, env, a.AppStatus, activities.AppStatusInput{App: "nope"})
	wantAppErr(t, err, argocd.KindPermissionDenied, false)
}

func TestAppStatusShowsTheOperationInFlight(t *testing.T) {
	c, _ := startSim(t, 5*time.Second)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)
	if _, err := c.Sync(context.Background(), "guestbook", argocd.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	st := mustRun[activities.AppStatusResult](t, env, a.AppStatus, activities.AppStatusInput{App: "guestbook"})
	if op := st.Operation; op == nil || !(op.Pending && op.Phase == "" || op.Phase == "Running") || !op.FinishedAt.IsZero() {
		t.Errorf("operation right after Sync = %+v, want pending or running", op)
	}
}

func TestRevisionHistoryNewestFirstWithHelmParameters(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	res := mustRun[activities.RevisionHistoryResult](t, env, a.RevisionHistory,
		activities.RevisionHistoryInput{App: "ledger", Fields: []string{"image.tag", "config.batchSize", "no.such"}})
	if len(res.Rows) < 25 || res.Project != "payments" || res.Note != "" || res.FailedLookups != 0 {
		t.Fatalf("ledger: %d rows, project %q, note %q, failed %d", len(res.Rows), res.Project, res.Note, res.FailedLookups)
	}
	for i, r := range res.Rows {
		if i > 0 && r.ID >= res.Rows[i-1].ID {
			t.Fatalf("rows not newest first: id %d after %d", r.ID, res.Rows[i-1].ID)
		}
		if i > 0 && !r.DeployedAt.Before(res.Rows[i-1].DeployedAt) {
			t.Errorf("row %d deployed at %v, not before the newer row", r.ID, r.DeployedAt)
		}
		tag, batch := fmt.Sprintf("v3.%d.%d", r.ID/10, r.ID%10), strconv.Itoa(100*(1+int(r.ID)%4))
		if len(r.Params) != 3 || r.Params[0] != tag || r.Params[1] != batch || r.Params[2] != "" || len(r.Revision) != 40 {
			t.Errorf("row %d = %+v, want params [%s %s \"\"]", r.ID, r, tag, batch)
		}
	}
	// Every entry has its own revision here: one lookup each.
	if res.Lookups != len(res.Rows) || sim.Calls("GetAppDetails", "ledger") != len(res.Rows) {
		t.Errorf("%d lookups, %d GetAppDetails calls for %d rows", res.Lookups, sim.Calls("GetAppDetails", "ledger"), len(res.Rows))
	}

	// Without fields nothing is looked up.
	plain := mustRun[activities.RevisionHistoryResult](t, env, a.RevisionHistory, activities.RevisionHistoryInput{App: "guestbook"})
	if len(plain.Rows) < 12 || plain.Rows[0].Params != nil || sim.Calls("GetAppDetails", "guestbook") != 0 {
		t.Errorf("guestbook without fields: %d rows, params %v, %d lookups", len(plain.Rows), plain.Rows[0].Params, sim.Calls("GetAppDetails", "guestbook"))
	}

	_, err := run[activities.RevisionHistoryResult](t, env, a.RevisionHistory, activities.RevisionHistoryInput{App: "nope", Fields: []string{"image.tag"}})
	wantAppErr(t, err, argocd.KindPermissionDenied, false)
}

func TestRevisionHistoryFailedLookupIsNotAvailableNotAFailure(t *testing.T) {
	c, sim := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)
	sim.FailNext("GetAppDetails", 3, codes.Internal)

	res := mustRun[activities.RevisionHistoryResult](t, env, a.RevisionHistory,
		activities.RevisionHistoryInput{App: "ledger", Fields: []string{"image.tag", "replicaCount"}})
	na := 0
	for _, r := range res.Rows {
		switch {
		case r.Params[0] == activities.NotAvailable && r.Params[1] == activities.NotAvailable:
			na++
		case r.Params[0] == "" || r.Params[1] != "2":
			t.Errorf("row %d = %+v", r.ID, r.Params)
		}
	}
	if na != 3 || res.FailedLookups != 3 {
		t.Errorf("%d n/a rows, %d failed lookups; want 3", na, res.FailedLookups)
	}
	if !strings.Contains(res.Note, "3 of "+strconv.Itoa(len(res.Rows))) || !strings.Contains(res.Note, "injected failure") {
		t.Errorf("note = %q", res.Note)
	}
}

// historyFake serves an app whose history repeats revisions, and counts
// Helm parameter lookups and how many run at once.
type historyFake struct {
	fakeArgo
	app *v1alpha1.Application

	mu             sync.Mutex
	calls          map[int64]int
	inFlight, most int
	failFor        map[string]bool
	delay          time.Duration
}

func (f *historyFake) GetApp(context.Context, string) (*argocd.App, error) {
	return &argocd.App{Application: f.app.DeepCopy()}, nil
}

func (f *historyFake) HelmParameters(ctx context.Context, app *argocd.App, id int64) (map[string]string, error) {
	f.mu.Lock()
	f.calls[id]++
	f.inFlight++
	f.most = max(f.most, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, h := range app.Status.History {
		if h.ID == id {
			if f.failFor[h.Revision] {
				return nil, &argocd.Error{Kind: argocd.KindOther, Code: codes.Internal, Op: "helm parameters", Message: "repo server exploded"}
			}
			return map[string]string{"image.tag": "tag-" + h.Revision}, nil
		}
	}
	return nil, fmt.Errorf("no history id %d", id)
}

func historyApp(revisions ...string) *v1alpha1.Application {
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1alpha1.ApplicationSpec{Project: "default"}}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, rev := range revisions {
		app.Status.History = append(app.Status.History, v1alpha1.RevisionHistory{
			ID: int64(i), Revision: rev, DeployedAt: metav1.NewTime(base.Add(time.Duration(i) * time.Hour)),
			Source: v1alpha1.ApplicationSource{RepoURL: "https://git.example.com/web.git", Path: "chart", TargetRevision: "HEAD"},
		})
	}
	return app
}

func TestRevisionHistoryLooksUpEachRevisionOnce(t *testing.T) {
	// Rollbacks and re-syncs deploy the same revision again.
	f := &historyFake{app: historyApp("aaa", "bbb", "aaa", "ccc", "bbb", "aaa"), calls: map[int64]int{}, failFor: map[string]bool{"bbb": true}}
	a := &activities.ArgoCD{Client: f}
	res := mustRun[activities.RevisionHistoryResult](t, activityEnv(a), a.RevisionHistory,
		activities.RevisionHistoryInput{App: "web", Fields: []string{"image.tag"}})
	total := 0
	for _, n := range f.calls {
		total += n
	}
	if total != 3 || res.Lookups != 3 || res.FailedLookups != 1 {
		t.Errorf("%d lookups (%v), result says %d/%d failed; want 3 lookups for 3 revisions, 1 failed", total, f.calls, res.FailedLookups, res.Lookups)
	}
	want := []string{"tag-aaa", "n/a", "tag-ccc", "tag-aaa", "n/a", "tag-aaa"} // newest first
	for i, r := range res.Rows {
		if r.Params[0] != want[i] || r.ID != int64(5-i) {
			t.Errorf("row %d (id %d) = %v, want %s", i, r.ID, r.Params, want[i])
		}
	}
	if !strings.Contains(res.Note, "1 of 3") || !strings.Contains(res.Note, "repo server exploded") {
		t.Errorf("note = %q", res.Note)
	}
}

func TestRevisionHistoryBoundsConcurrency(t *testing.T) {
	revs := make([]string, 16)
	for i := range revs {
		revs[i] = fmt.Sprintf("rev%02d", i)
	}
	f := &historyFake{app: historyApp(revs...), calls: map[int64]int{}, delay: 30 * time.Millisecond}
	a := &activities.ArgoCD{Client: f}
	mustRun[activities.RevisionHistoryResult](t, activityEnv(a), a.RevisionHistory,
		activities.RevisionHistoryInput{App: "web", Fields: []string{"image.tag"}, Concurrency: 3})
	if f.most > 3 || f.most < 2 {
		t.Errorf("%d lookups ran at once, want 2..3 (parallel, bounded by 3)", f.most)
	}
	f.most = 0
	mustRun[activities.RevisionHistoryResult](t, activityEnv(a), a.RevisionHistory,
		activities.RevisionHistoryInput{App: "web", Fields: []string{"image.tag"}})
	if f.most > activities.DefaultLookupConcurrency {
		t.Errorf("%d lookups ran at once by default, want at most %d", f.most, activities.DefaultLookupConcurrency)
	}
	// The worker's setting applies when the workflow leaves it open.
	f.most = 0
	a.LookupConcurrency = 2
	mustRun[activities.RevisionHistoryResult](t, activityEnv(a), a.RevisionHistory,
		activities.RevisionHistoryInput{App: "web", Fields: []string{"image.tag"}})
	if f.most != 2 {
		t.Errorf("%d lookups ran at once with ARGOCD_LOOKUP_CONCURRENCY=2, want 2", f.most)
	}
}

func TestRevisionHistoryRemembersCommitsNotBranches(t *testing.T) {
	sha := func(c byte) string { return strings.Repeat(string(c), 40) }
	// Two commits, a branch and a failing commit: only the good commits are
	// remembered (a branch moves; a failure may be transient).
	f := &historyFake{app: historyApp(sha('a'), "main", sha('b'), sha('c')), calls: map[int64]int{}, failFor: map[string]bool{sha('c'): true}}
	a := &activities.ArgoCD{Client: f, HelmParams: activities.NewHelmParamsCache(100)}
	in := activities.RevisionHistoryInput{App: "web", Fields: []string{"image.tag"}}
	first := mustRun[activities.RevisionHistoryResult](t, activityEnv(a), a.RevisionHistory, in)
	second := mustRun[activities.RevisionHistoryResult](t, activityEnv(a), a.RevisionHistory, in)
	if first.CachedLookups != 0 || second.CachedLookups != 2 || a.HelmParams.Len() != 2 {
		t.Errorf("cached lookups %d then %d, %d remembered; want 0, 2, 2", first.CachedLookups, second.CachedLookups, a.HelmParams.Len())
	}
	if want := map[int64]int{0: 1, 1: 2, 2: 1, 3: 2}; !maps.Equal(f.calls, want) {
		t.Errorf("lookups per history id %v, want %v", f.calls, want)
	}
	if !slices.EqualFunc(first.Rows, second.Rows, func(x, y contract.RevisionRow) bool { return slices.Equal(x.Params, y.Params) }) {
		t.Errorf("rows differ: %+v vs %+v", first.Rows, second.Rows)
	}

	// Another app with the same source and commit is looked up on its own:
	// Argo CD checks each app's access to its source.
	other := historyApp(sha('a'))
	other.Name = "web-eu"
	g := &historyFake{app: other, calls: map[int64]int{}}
	b := &activities.ArgoCD{Client: g, HelmParams: a.HelmParams}
	mustRun[activities.RevisionHistoryResult](t, activityEnv(b), b.RevisionHistory, activities.RevisionHistoryInput{App: "web-eu", Fields: []string{"image.tag"}})
	if g.calls[0] != 1 {
		t.Errorf("web-eu's commit was looked up %d times, want 1 (not web's cached answer)", g.calls[0])
	}
}

// BenchmarkRollbackRevisionsLookups: `rollback_revisions ledger` (30 history
// entries, 30 commits) with every Argo CD call 50 ms slow, one lookup at a
// time, at the old bound of 4, at the default, and repeated with the cache.
func BenchmarkRollbackRevisionsLookups(b *testing.B) {
	c, sim := startSim(b, opDuration)
	sim.SetLatency("*", 50*time.Millisecond)
	in := activities.RevisionHistoryInput{App: "ledger", Fields: []string{"image.tag", "replicaCount"}}
	for _, bc := range []struct {
		name  string
		limit int
		cache bool
	}{{"one-by-one", 1, false}, {"bound-4", 4, false}, {"default", 0, false}, {"default-cached", 0, true}} {
		b.Run(bc.name, func(b *testing.B) {
			a := &activities.ArgoCD{Client: c, LookupConcurrency: bc.limit}
			if bc.cache {
				a.HelmParams = activities.NewHelmParamsCache(1000)
			}
			env := activityEnv(a)
			if bc.cache { // warm it: the first table pays, repeats do not
				mustRun[activities.RevisionHistoryResult](b, env, a.RevisionHistory, in)
			}
			b.ResetTimer()
			for range b.N {
				if res := mustRun[activities.RevisionHistoryResult](b, env, a.RevisionHistory, in); len(res.Rows) != 30 || res.FailedLookups != 0 {
					b.Fatalf("%d rows, %d failed lookups", len(res.Rows), res.FailedLookups)
				}
			}
		})
	}
}

func TestPodLogsGroupsEveryPod(t *testing.T) {
	c, _ := startSim(t, opDuration)
	a := &activities.ArgoCD{Client: c}
	env := activityEnv(a)

	res := mustRun[activities.PodLogsResult](t, env, a.PodLogs, activities.PodLogsInput{App: "frontend", TailLines: 5})
	if len(res.Pods) != 3 || res.Lines != 15 || res.OmittedLines != 0 {
		t.Fatalf("frontend logs: %d pods, %d lines, %d omitted", len(res.Pods), res.Lines, res.OmittedLines)
	}
	seen := map[string]bool{}
	for _, p := range res.Pods {
		if p.Pod == "" || seen[p.Pod] || len(p.Lines) != 5 {
			t.Errorf("pod %q: %d lines (dup %v)", p.Pod, len(p.Lines), seen[p.Pod])
		}
		seen[p.Pod] = true
	}
	if strings.Join(res.Pods[0].Lines, "\n") == strings.Join(res.Pods[1].Lines, "\n") {
		t.Error("frontend's pods should log different lines")
	}
	// The default tail applies when none is given.
	def := mustRun[activities.PodLogsResult](t, env, a.PodLogs, activities.PodLogsInput{App: "frontend"})
	for _, p := range def.Pods {
		if len(p.Lines) > activities.DefaultTailLines {
			t.Errorf("pod %s: %d lines, want at most %d", p.Pod, len(p.Lines), activities.DefaultTailLines)
		}
	}

	_, err := run[activities.PodLogsResult](t, env, a.PodLogs, activities.PodLogsInput{App: "nope"})
	wantAppErr(t, err, argocd.KindPermissionDenied, false)
}

// chattyLogs returns pods with huge logs.
type chattyLogs struct {
	fakeArgo
	pods, lines, width int
}

func (c *chattyLogs) PodLogs(_ context.Context, _ string, _ int64) ([]argocd.PodLog, error) {
	out := make([]argocd.PodLog, c.pods)
	for i := range out {
		out[i].Pod = fmt.Sprintf("pod-%d", i)
		for j := range c.lines {
			out[i].Lines = append(out[i].Lines, fmt.Sprintf("%05d %s", j, strings.Repeat("x", c.width)))
		}
	}
	return out, nil
}

func TestPodLogsBoundsWhatGoesIntoHistory(t *testing.T) {
	a := &activities.ArgoCD{Client: &chattyLogs{pods: 20, lines: 500, width: 3000}}
	res := mustRun[activities.PodLogsResult](t, activityEnv(a), a.PodLogs, activities.PodLogsInput{App: "web", TailLines: 500})
	size := 0
	for _, p := range res.Pods {
		if len(p.Lines) == 0 {
			t.Errorf("pod %s lost all its lines; the oldest lines of the chattiest pods go first", p.Pod)
		}
		for _, l := range p.Lines {
			size += len(l) + 1
			if n := len([]rune(l)); n > 2000 {
				t.Fatalf("line of %d characters kept", n)
			}
		}
		if last := p.Lines[len(p.Lines)-1]; !strings.HasPrefix(last, "00499 ") {
			t.Errorf("pod %s: newest line dropped (last kept %.10q)", p.Pod, last)
		}
	}
	if size > 256<<10 || res.OmittedLines == 0 || res.Lines+res.OmittedLines != 20*500 {
		t.Errorf("kept %d bytes in %d lines, omitted %d", size, res.Lines, res.OmittedLines)
	}
}

func TestPodLogsNeedsAClientThatReadsLogs(t *testing.T) {
	a := &activities.ArgoCD{Client: &fakeArgo{}}
	_, err := run[activities.PodLogsResult](t, activityEnv(a), a.PodLogs, activities.PodLogsInput{App: "web"})
	wantAppErr(t, err, argocd.KindOther, false)
}

// The simulator's generated apps are what list_apps shows at scale.
func TestListAppsWithManyApps(t *testing.T) {
	addr, _ := simtest.Start(t, argocdsim.Options{ExtraApps: 500})
	c, err := argocd.New(argocd.Options{URL: "http://" + addr, Token: argocdsim.DefaultToken, VerifySSL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	a := &activities.ArgoCD{Client: c}
	res := mustRun[activities.ListAppsResult](t, activityEnv(a), a.ListApps, activities.ListAppsInput{})
	if len(res.Apps) != 506 || len(res.Apps[0].Images) == 0 {
		t.Errorf("%d apps (first %+v), want 506 with images", len(res.Apps), res.Apps[0])
	}
}
