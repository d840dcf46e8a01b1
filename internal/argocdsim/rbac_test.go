package argocdsim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apiclient"
	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	projectpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/project"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
	versionpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/version"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
)

// botToken is the deploybot account's token in the RBAC tests.
const botToken = "bot-token"

var botAccounts = map[string]string{botToken: "deploybot"}

// deployPolicy reads a policy file of deploy/argocd, which deploy/argocd's
// own tests check against deploybot's needs.
func deployPolicy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/argocd/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutLogsRule is policy.csv without its `logs, get` rule: what a
// policy written for Argo CD 2.x (where PodLogs needs only `applications,
// get`) looks like.
func withoutLogsRule(t *testing.T) string {
	t.Helper()
	var out []string
	dropped := 0
	for _, line := range strings.Split(deployPolicy(t, "policy.csv"), "\n") {
		if strings.HasPrefix(line, "p,") && strings.Contains(line, " logs, get,") {
			dropped++
			continue
		}
		out = append(out, line)
	}
	if dropped != 1 {
		t.Fatalf("policy.csv has %d `logs, get` rules, want 1", dropped)
	}
	return strings.Join(out, "\n")
}

// startRBAC serves a simulator speaking version with the bot account and
// policy; it returns the address and the time before it started (the
// tokens' iat is not earlier).
func startRBAC(t *testing.T, version, policy string, mut ...func(*argocdsim.Options)) (string, *argocdsim.Server, time.Time) {
	t.Helper()
	isolateHome(t)
	opts := fastOpts
	opts.Version, opts.Accounts, opts.RBACPolicy = version, botAccounts, policy
	opts.AppNamespaces = []string{"team-a"}
	for _, m := range mut {
		m(&opts)
	}
	before := time.Now().Truncate(time.Second)
	addr, s := simtest.Start(t, opts)
	return addr, s, before
}

func as(t testing.TB, tok string) context.Context { return withToken(ctxT(t), "token", tok) }

var deniedMessage = regexp.MustCompile(`^permission denied: (.+), sub: ([^,]+), iat: (\S+)$`)

// wantDenied checks err is argocd-server's EnforceErr for the request
// (e.g. "logs, get, default/guestbook") and sub: the RBAC request, the
// subject and the token's iat, which is not before notBefore.
func wantDenied(t testing.TB, err error, request, sub string, notBefore time.Time) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.PermissionDenied {
		t.Fatalf("want PermissionDenied for %s, got %v", request, err)
	}
	m := deniedMessage.FindStringSubmatch(st.Message())
	if m == nil || m[1] != request || m[2] != sub {
		t.Fatalf("message %q, want \"permission denied: %s, sub: %s, iat: <RFC 3339>\"", st.Message(), request, sub)
	}
	iat, perr := time.Parse(time.RFC3339, m[3])
	if perr != nil || iat.Before(notBefore) || iat.After(time.Now()) {
		t.Fatalf("iat %q: %v (want between %s and now)", m[3], perr, notBefore.Format(time.RFC3339))
	}
}

// podLogs reads app's logs as tok (name as "namespace/name" or bare) and
// returns the lines, or the stream's error.
func podLogs(t testing.TB, ac applicationpkg.ApplicationServiceClient, tok, app string) ([]string, error) {
	t.Helper()
	q := &applicationpkg.ApplicationPodLogsQuery{Name: str(app), TailLines: i64(3)}
	if ns, name, ok := strings.Cut(app, "/"); ok {
		q.Name, q.AppNamespace = str(name), str(ns)
	}
	stream, err := ac.PodLogs(as(t, tok), q)
	if err != nil {
		return nil, err
	}
	var lines []string
	for {
		e, err := stream.Recv()
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return nil, err
		}
		if !e.GetLast() {
			lines = append(lines, e.GetContent())
		}
	}
}

// TestRBACLogsGetFrom30: with deploybot's policy minus its `logs, get`
// rule, PodLogs is refused from Argo CD 3.0 with argocd-server's own
// message (the object is <project>/<app>, <project>/<namespace>/<app>
// outside argocd), while 2.14 serves it on `applications, get` alone
// unless server.rbac.log.enforce.enable is set. The admin is unaffected.
func TestRBACLogsGetFrom30(t *testing.T) {
	policy := withoutLogsRule(t)
	for _, tc := range []struct {
		version string
		enforce bool // LogsRBACEnforce
		denied  bool
	}{
		{"2.14", false, false},
		{"2.14", true, true},
		{"3.0", false, true},
		{"3.1", false, true},
		{"v3.1.16", true, true},
	} {
		name := tc.version
		if tc.enforce {
			name += "+log.enforce"
		}
		t.Run(name, func(t *testing.T) {
			addr, _, before := startRBAC(t, tc.version, policy, func(o *argocdsim.Options) { o.LogsRBACEnforce = tc.enforce })
			ac := applicationpkg.NewApplicationServiceClient(rawConn(t, addr))
			for app, object := range map[string]string{"guestbook": "default/guestbook", "team-a/guestbook": "team-a/team-a/guestbook"} {
				lines, err := podLogs(t, ac, botToken, app)
				if tc.denied {
					wantDenied(t, err, "logs, get, "+object, "deploybot", before)
				} else if err != nil || len(lines) == 0 {
					t.Fatalf("%s: PodLogs as deploybot: %d lines, %v", app, len(lines), err)
				}
				if lines, err := podLogs(t, ac, token, app); err != nil || len(lines) == 0 {
					t.Fatalf("%s: PodLogs as admin: %d lines, %v", app, len(lines), err)
				}
				// What PodLogs needs first is unchanged: the app, with `applications, get`.
				q := &applicationpkg.ApplicationQuery{Name: str(app)}
				if ns, n, ok := strings.Cut(app, "/"); ok {
					q.Name, q.AppNamespace = str(n), str(ns)
				}
				if _, err := ac.Get(as(t, botToken), q); err != nil {
					t.Fatalf("%s: Get as deploybot: %v", app, err)
				}
			}
			// An unknown app stays a plain "permission denied", before any logs check.
			_, err := podLogs(t, ac, botToken, "no-such-app")
			wantCode(t, err, codes.PermissionDenied, "permission denied")
		})
	}
}

// TestRBACDeployPolicy: with deploy/argocd/policy.csv every call deploybot
// makes is allowed in every version, through deploybot's own client, except
// turning auto-sync off or on, which needs policy-autosync.csv's
// `applications, update`. The admin token keeps role:admin.
func TestRBACDeployPolicy(t *testing.T) {
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			addr, s, before := startRBAC(t, version, deployPolicy(t, "policy.csv"))
			bot := deploybotClient(t, addr, botToken)
			ctx := ctxT(t)

			apps, err := bot.ListApps(ctx)
			if err != nil || len(apps) != 7 { // six in argocd, team-a/guestbook
				t.Fatalf("ListApps: %d apps, %v", len(apps), err)
			}
			for _, name := range []string{"guestbook", "team-a/guestbook"} {
				got, err := bot.GetApp(ctx, name)
				if err != nil {
					t.Fatalf("GetApp %s: %v", name, err)
				}
				if _, err := bot.ResourceTree(ctx, name); err != nil {
					t.Fatalf("ResourceTree %s: %v", name, err)
				}
				if logs, err := bot.PodLogs(ctx, name, 5); err != nil || len(logs) == 0 {
					t.Fatalf("PodLogs %s: %d pods, %v", name, len(logs), err)
				}
				h := got.Status.History
				if params, err := bot.HelmParameters(ctx, got, h[0].ID); err != nil || params["image.tag"] == "" {
					t.Fatalf("HelmParameters %s: %v, %v", name, params, err)
				}
			}
			if v, err := bot.ServerVersion(ctx); err != nil || !v.AtLeast(2, 14) {
				t.Fatalf("ServerVersion: %v, %v", v, err)
			}
			app, err := bot.Sync(ctx, "search", argocd.SyncOptions{})
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if by := app.Operation.InitiatedBy.Username; by != "deploybot" {
				t.Errorf("Sync initiated by %q, want deploybot", by)
			}
			got, err := bot.GetApp(ctx, "guestbook")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bot.Rollback(ctx, "guestbook", got.Status.History[0].ID); err != nil {
				t.Fatalf("Rollback: %v", err)
			}

			_, err = bot.DisableAutoSync(ctx, "payments")
			var ae *argocd.Error
			if !errors.As(err, &ae) || ae.Kind != argocd.KindPermissionDenied {
				t.Fatalf("DisableAutoSync without applications, update: %v", err)
			}
			wantDenied(t, status.Error(ae.Code, ae.Message), "applications, update, payments/payments", "deploybot", before)

			// The admin may: role:admin.
			admin := deploybotClient(t, addr, token)
			if _, err := admin.DisableAutoSync(ctx, "payments"); err != nil {
				t.Fatalf("DisableAutoSync as admin: %v", err)
			}
			s.Reset()

			// With policy-autosync.csv deploybot may too.
			addr2, _, _ := startRBAC(t, version, deployPolicy(t, "policy.csv")+"\n"+deployPolicy(t, "policy-autosync.csv"))
			bot2 := deploybotClient(t, addr2, botToken)
			if _, err := bot2.DisableAutoSync(ctx, "payments"); err != nil {
				t.Fatalf("DisableAutoSync with policy-autosync.csv: %v", err)
			}
		})
	}
}

func deploybotClient(t *testing.T, addr, tok string) *argocd.Client {
	t.Helper()
	c, err := argocd.New(argocd.Options{URL: "http://" + addr, Token: tok, VerifySSL: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestRBACLookups: a denial of the lookup's action is argocd-server's
// plain "permission denied" (NotFound when the request names the project
// the caller may see, as for an app in another project), List and Watch
// leave out what the caller may not get, and checks after the lookup
// (Sync's `sync`, Projects', Repositories') name the request.
func TestRBACLookups(t *testing.T) {
	const policy = `
p, role:payments, applications, get, payments/*, allow
p, role:payments, applications, sync, payments/*, allow
g, deploybot, role:payments
p, role:viewer, applications, get, */*, allow
g, viewer, role:viewer
`
	addr, _, before := startRBAC(t, "3.1", policy, func(o *argocdsim.Options) {
		o.Accounts = map[string]string{botToken: "deploybot", "viewer-token": "viewer"}
	})
	ac := applicationpkg.NewApplicationServiceClient(rawConn(t, addr))

	list, err := ac.List(as(t, botToken), &applicationpkg.ApplicationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list.Items {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, ","); got != "checkout,ledger,payments" {
		t.Fatalf("List as deploybot: %s", got)
	}
	if list, err := ac.List(as(t, token), &applicationpkg.ApplicationQuery{}); err != nil || len(list.Items) != 7 {
		t.Fatalf("List as admin: %v", err)
	}

	_, err = ac.Get(as(t, botToken), &applicationpkg.ApplicationQuery{Name: str("guestbook")})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	_, err = ac.Get(as(t, botToken), &applicationpkg.ApplicationQuery{Name: str("guestbook"), Projects: []string{"default"}})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	_, err = ac.Get(as(t, botToken), &applicationpkg.ApplicationQuery{Name: str("guestbook"), Projects: []string{"payments"}})
	wantCode(t, err, codes.NotFound, `applications.argoproj.io "guestbook" not found`)
	_, err = ac.ResourceTree(as(t, botToken), &applicationpkg.ResourcesQuery{ApplicationName: str("guestbook")})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	if _, err := ac.Get(as(t, botToken), &applicationpkg.ApplicationQuery{Name: str("ledger")}); err != nil {
		t.Fatal(err)
	}

	// viewer finds guestbook (get) but may not sync it; Rollback looks the app up with sync.
	_, err = ac.Sync(as(t, "viewer-token"), &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")})
	wantDenied(t, err, "applications, sync, default/guestbook", "viewer", before)
	_, err = ac.Rollback(as(t, "viewer-token"), &applicationpkg.ApplicationRollbackRequest{Name: str("guestbook"), Id: i64(0)})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	_, err = ac.Patch(as(t, "viewer-token"), &applicationpkg.ApplicationPatchRequest{Name: str("guestbook"), Patch: str(`{}`), PatchType: str("merge")})
	wantDenied(t, err, "applications, update, default/guestbook", "viewer", before)
	_, err = ac.UpdateSpec(as(t, "viewer-token"), &applicationpkg.ApplicationUpdateSpecRequest{Name: str("guestbook"), Spec: &get(t, appClient(t, newClient(t, addr)), "guestbook").Spec})
	wantCode(t, err, codes.PermissionDenied, "permission denied")

	// Watch sends only the apps deploybot may get.
	ctx, cancel := context.WithCancel(as(t, botToken))
	defer cancel()
	w, err := ac.Watch(ctx, &applicationpkg.ApplicationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var watched []string
	for len(watched) < 3 {
		ev, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		watched = append(watched, ev.Application.Name)
	}
	if got := strings.Join(watched, ","); got != "checkout,ledger,payments" {
		t.Fatalf("Watch as deploybot: %s", got)
	}
	cancel()

	// Projects and repositories: deploybot's policy has neither.
	pc := projectpkg.NewProjectServiceClient(rawConn(t, addr))
	_, err = pc.Get(as(t, botToken), &projectpkg.ProjectQuery{Name: "payments"})
	wantDenied(t, err, "projects, get, payments", "deploybot", before)
	if pl, err := pc.List(as(t, botToken), &projectpkg.ProjectQuery{}); err != nil || len(pl.Items) != 0 {
		t.Fatalf("project List as deploybot: %v, %v", pl, err)
	}
	rc := repositorypkg.NewRepositoryServiceClient(rawConn(t, addr))
	if rl, err := rc.ListRepositories(as(t, botToken), &repositorypkg.RepoQuery{}); err != nil || len(rl.Items) != 0 {
		t.Fatalf("ListRepositories as deploybot: %v, %v", rl, err)
	}
	ledger := get(t, appClient(t, newClient(t, addr)), "ledger")
	src := ledger.Spec.GetSource()
	_, err = rc.GetAppDetails(as(t, botToken), &repositorypkg.RepoAppDetailsQuery{Source: &src, AppName: "ledger", AppProject: "payments"})
	wantDenied(t, err, "repositories, get, "+src.RepoURL, "deploybot", before)

	// A token nobody has is refused before any RBAC.
	_, err = ac.List(as(t, "stolen"), &applicationpkg.ApplicationQuery{})
	wantCode(t, err, codes.Unauthenticated, "invalid session: token signature is invalid")

	// Version: an account's token is a logged-in caller.
	vc := versionpkg.NewVersionServiceClient(rawConn(t, addr))
	if v, err := vc.Version(as(t, botToken), &emptypb.Empty{}); err != nil || v.GitTag == "" {
		t.Fatalf("Version as deploybot: %+v, %v", v, err)
	}
	if v, err := vc.Version(as(t, "stolen"), &emptypb.Empty{}); err != nil || v.GitTag != "" {
		t.Fatalf("Version with a bad token: %+v, %v", v, err)
	}
}

// TestRBACDefaultRole: policy.default applies to every account.
func TestRBACDefaultRole(t *testing.T) {
	addr, _, before := startRBAC(t, "3.1", "", func(o *argocdsim.Options) {
		o.Accounts = map[string]string{"t": "nobody"}
		o.RBACDefaultRole = "role:readonly"
	})
	ac := applicationpkg.NewApplicationServiceClient(rawConn(t, addr))
	if lines, err := podLogs(t, ac, "t", "guestbook"); err != nil || len(lines) == 0 {
		t.Fatalf("PodLogs with role:readonly: %v", err)
	}
	_, err := ac.Sync(as(t, "t"), &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")})
	wantDenied(t, err, "applications, sync, default/guestbook", "nobody", before)
}

// TestRBACOverRESTAndGRPCWeb: REST and gRPC-Web reach the same checks.
func TestRBACOverRESTAndGRPCWeb(t *testing.T) {
	addr, _, before := startRBAC(t, "3.0", withoutLogsRule(t))

	web := appClient(t, newClient(t, addr, func(o *apiclient.ClientOptions) { o.GRPCWeb, o.AuthToken = true, botToken }))
	_, err := podLogs(t, web, botToken, "guestbook")
	wantDenied(t, err, "logs, get, default/guestbook", "deploybot", before)
	if _, err := web.Get(ctxT(t), &applicationpkg.ApplicationQuery{Name: str("guestbook")}); err != nil {
		t.Fatalf("gRPC-Web Get: %v", err)
	}

	for _, auth := range []func(*http.Request){
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+botToken) },
		func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "argocd.token", Value: botToken}) },
	} {
		code, body := restAs(t, addr, auth, "/api/v1/applications/guestbook")
		if code != http.StatusOK {
			t.Fatalf("REST Get: %d %s", code, body)
		}
		code, body = restAs(t, addr, auth, "/api/v1/applications/guestbook/logs?tailLines=3")
		var ev struct {
			Error struct {
				GRPCCode int    `json:"grpc_code"`
				HTTPCode int    `json:"http_code"`
				Message  string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("REST logs: %d %s: %v", code, body, err)
		}
		if code != http.StatusForbidden || ev.Error.GRPCCode != int(codes.PermissionDenied) || ev.Error.HTTPCode != http.StatusForbidden {
			t.Fatalf("REST logs: %d %s", code, body)
		}
		wantDenied(t, status.Error(codes.PermissionDenied, ev.Error.Message), "logs, get, default/guestbook", "deploybot", before)
		code, body = restAs(t, addr, auth, "/api/v1/applications/guestbook/logs?tailLines=3&appNamespace=nope")
		if code != http.StatusForbidden || !strings.Contains(string(body), `"message":"permission denied"`) {
			t.Fatalf("REST logs of an unknown app: %d %s", code, body)
		}
	}
}

// restAs GETs path from the simulator at addr, authenticated by auth, and
// returns the status and the body (a stream's first line).
func restAs(t *testing.T, addr string, auth func(*http.Request), path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return resp.StatusCode, line
}

// TestRBACOptionsRefused: bad accounts or policies stop New.
func TestRBACOptionsRefused(t *testing.T) {
	for _, tc := range []struct {
		opts argocdsim.Options
		want string
	}{
		{argocdsim.Options{Accounts: map[string]string{argocdsim.DefaultToken: "deploybot"}}, "admin's token"},
		{argocdsim.Options{Accounts: map[string]string{"": "deploybot"}}, "empty token"},
		{argocdsim.Options{Accounts: map[string]string{"t": ""}}, "not an account name"},
		{argocdsim.Options{RBACPolicy: "p, role:x, applications"}, "RBACPolicy"},
	} {
		if _, err := argocdsim.New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.opts, err, tc.want)
		}
	}
}
