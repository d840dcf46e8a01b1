package argocdsim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	grpcutil "github.com/argoproj/argo-cd/v2/util/grpc"

	"github.com/deploybot/deploybot/internal/argocdsim"
)

// recordingAppClient stands in for argocd-server behind argo-cd's generated
// REST gateway and records the requests the gateway builds.
type recordingAppClient struct {
	applicationpkg.ApplicationServiceClient // nil: other methods are not called
	update                                  *applicationpkg.ApplicationUpdateRequest
	spec                                    *applicationpkg.ApplicationUpdateSpecRequest
}

func (r *recordingAppClient) Update(_ context.Context, in *applicationpkg.ApplicationUpdateRequest, _ ...grpc.CallOption) (*v1alpha1.Application, error) {
	r.update = in
	return &v1alpha1.Application{}, nil
}

func (r *recordingAppClient) UpdateSpec(_ context.Context, in *applicationpkg.ApplicationUpdateSpecRequest, _ ...grpc.CallOption) (*v1alpha1.ApplicationSpec, error) {
	r.spec = in
	return &v1alpha1.ApplicationSpec{}, nil
}

// TestArgoGatewayUpdateNameFromBody pins what argocd-server's REST gateway
// (argo-cd's generated handler, on the mux argocd-server builds) hands to
// ApplicationService.Update: the app named in the body. The
// {application.metadata.name} path value is assigned through
// Application.GetMetadata(), which returns a copy (v1alpha1/hack.go), so it
// never reaches the request; argocd-server then looks up an app named "" and
// answers "permission denied". The simulator runs the same handler, so it
// must answer the same; this test fails if a newer argo-cd starts to fill
// the name in, and the simulator's Update should then follow.
func TestArgoGatewayUpdateNameFromBody(t *testing.T) {
	rec := &recordingAppClient{}
	mux := gwruntime.NewServeMux(gwruntime.WithMarshalerOption(gwruntime.MIMEWildcard, new(grpcutil.JSONMarshaler)))
	if err := applicationpkg.RegisterApplicationServiceHandlerClient(context.Background(), mux, rec); err != nil {
		t.Fatal(err)
	}
	serve := func(method, target, body string) {
		t.Helper()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
	}

	serve(http.MethodPut, "/api/v1/applications/guestbook?project=default&validate=false", `{"metadata":{"labels":{"team":"web"}},"spec":{"project":"default"}}`)
	if a := rec.update.GetApplication(); a == nil || a.Name != "" || a.Labels["team"] != "web" || rec.update.GetProject() != "default" || rec.update.GetValidate() {
		t.Fatalf("Update request from a body without metadata.name: %+v", rec.update)
	}
	serve(http.MethodPut, "/api/v1/applications/guestbook", `{"metadata":{"name":"search"},"spec":{}}`)
	if a := rec.update.GetApplication(); a.Name != "search" {
		t.Fatalf("Update request names %q, want the body's %q", a.Name, "search")
	}
	// Other routes set their path values (here {name}) on the request.
	serve(http.MethodPut, "/api/v1/applications/guestbook/spec?project=default", `{"project":"default"}`)
	if rec.spec.GetName() != "guestbook" || rec.spec.GetProject() != "default" || rec.spec.GetSpec().Project != "default" {
		t.Fatalf("UpdateSpec request: %+v", rec.spec)
	}
}

// restCase is one REST call against the simulator. Each case runs against a
// fresh simulator; the body names another app than the path (or none) where
// the route has a body, to show which of the two the simulator acts on.
type restCase struct {
	name   string
	method string // the method argo-cd's gateway routes this to, "ApplicationService.Sync"
	route  string // "POST /api/v1/applications/{name}/sync", as in the descriptor
	target string // path and query
	body   string
	code   int
	app    string   // the app the call must be counted for (its counter key comes from method)
	want   []string // substrings of the response body
	stream bool     // read only the first line of a stream that does not end
	setup  func(t *testing.T, ac applicationpkg.ApplicationServiceClient)
	check  func(t *testing.T, ac applicationpkg.ApplicationServiceClient, body []byte)
}

// fixtures are values of the seed (the same in every fresh simulator).
type fixtures struct {
	guestbook, search *v1alpha1.Application
	frontendPod       string
}

func loadFixtures(t *testing.T) fixtures {
	_, _, ac := start(t, fastOpts)
	f := fixtures{guestbook: get(t, ac, "guestbook"), search: get(t, ac, "search")}
	tree, err := ac.ResourceTree(ctxT(t), &applicationpkg.ResourcesQuery{ApplicationName: str("frontend")})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tree.Nodes {
		if n.Kind == "Pod" {
			f.frontendPod = n.Name
			break
		}
	}
	if f.frontendPod == "" || len(f.guestbook.Status.History) < 4 {
		t.Fatal("seed changed: no frontend pod or short guestbook history")
	}
	return f
}

// putBody is an Update body: the app with new labels, annotations and
// targetRevision, named name (none if "") in namespace ns.
func putBody(t *testing.T, app *v1alpha1.Application, name, ns, revision string) string {
	t.Helper()
	a := v1alpha1.Application{Spec: *app.Spec.DeepCopy()}
	a.Name, a.Namespace = name, ns
	a.Labels = map[string]string{"team": "rest", "via": "put"}
	a.Annotations = map[string]string{"put.example.com/by": "a REST client"}
	a.Spec.Source.TargetRevision = revision
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaced checks that an Update replaced labels, annotations and the spec
// and kept the status, as argocd-server's updateApp does.
func replaced(t *testing.T, before, after *v1alpha1.Application, revision string) {
	t.Helper()
	if !maps.Equal(after.Labels, map[string]string{"team": "rest", "via": "put"}) ||
		!maps.Equal(after.Annotations, map[string]string{"put.example.com/by": "a REST client"}) {
		t.Errorf("labels %v annotations %v not replaced", after.Labels, after.Annotations)
	}
	if after.Spec.Source.TargetRevision != revision || after.Generation != before.Generation+1 {
		t.Errorf("spec not replaced: targetRevision %q generation %d", after.Spec.Source.TargetRevision, after.Generation)
	}
	if len(after.Status.History) != len(before.Status.History) || after.Status.Health.Status != before.Status.Health.Status || after.Finalizers != nil {
		t.Errorf("status changed or finalizers kept: %d history, health %s, finalizers %v", len(after.Status.History), after.Status.Health.Status, after.Finalizers)
	}
}

func unchanged(t *testing.T, ac applicationpkg.ApplicationServiceClient, want *v1alpha1.Application) {
	t.Helper()
	got := get(t, ac, want.Name)
	if !reflect.DeepEqual(got.Spec, want.Spec) || !maps.Equal(got.Labels, want.Labels) || !maps.Equal(got.Annotations, want.Annotations) || got.Operation != nil {
		t.Errorf("%s changed: labels %v operation %v", want.Name, got.Labels, got.Operation)
	}
}

func restCases(t *testing.T, f fixtures) []restCase {
	gb := f.guestbook
	rev2 := gb.Status.History[2].Revision
	repo := gb.Spec.Source.RepoURL
	srcJSON := func(repoURL string) string {
		src := gb.Spec.Source.DeepCopy()
		src.RepoURL = repoURL
		b, _ := json.Marshal(src)
		return string(b)
	}
	specJSON := func() string {
		spec := gb.Spec.DeepCopy()
		spec.Source.TargetRevision = rev2
		b, _ := json.Marshal(spec)
		return string(b)
	}()
	deny := []string{`"code":7`, `"message":"permission denied"`}
	return []restCase{
		{
			name: "list", method: "ApplicationService.List", route: "GET /api/v1/applications",
			target: "/api/v1/applications?name=search&projects=default", code: 200, app: "search",
			want: []string{`"name":"search"`},
			check: func(t *testing.T, _ applicationpkg.ApplicationServiceClient, body []byte) {
				var list v1alpha1.ApplicationList
				if err := json.Unmarshal(body, &list); err != nil || len(list.Items) != 1 {
					t.Errorf("want exactly search: %v %.300s", err, body)
				}
			},
		},
		{
			name: "watch", method: "ApplicationService.Watch", route: "GET /api/v1/stream/applications",
			target: "/api/v1/stream/applications?name=search", code: 200, app: "search", stream: true,
			want: []string{`"type":"ADDED"`, `"name":"search"`},
		},
		{
			name: "get", method: "ApplicationService.Get", route: "GET /api/v1/applications/{name}",
			target: "/api/v1/applications/search?appNamespace=argocd&projects=default", code: 200, app: "search",
			want: []string{`"name":"search"`},
		},
		{
			name: "get in another project", method: "ApplicationService.Get", route: "GET /api/v1/applications/{name}",
			target: "/api/v1/applications/search?projects=payments", code: 404, app: "search",
			want: []string{`applications.argoproj.io \"search\" not found`},
		},
		{
			name: "sync windows", method: "ApplicationService.GetApplicationSyncWindows", route: "GET /api/v1/applications/{name}/syncwindows",
			target: "/api/v1/applications/guestbook/syncwindows", code: 200, app: "guestbook",
			want: []string{`"canSync":true`},
		},
		{
			name: "revision metadata", method: "ApplicationService.RevisionMetadata", route: "GET /api/v1/applications/{name}/revisions/{revision}/metadata",
			target: "/api/v1/applications/guestbook/revisions/" + rev2 + "/metadata", code: 200, app: "guestbook",
			want: []string{`"author":"`, `"message":"`},
		},
		{
			name: "revision metadata of an unknown revision", method: "ApplicationService.RevisionMetadata", route: "GET /api/v1/applications/{name}/revisions/{revision}/metadata",
			target: "/api/v1/applications/guestbook/revisions/0000000/metadata", code: 500, app: "guestbook",
		},
		{
			name: "manifests of the target", method: "ApplicationService.GetManifests", route: "GET /api/v1/applications/{name}/manifests",
			target: "/api/v1/applications/guestbook/manifests", code: 200, app: "guestbook",
			want: []string{`kind\":\"Deployment`, `kind\":\"Service`, `"revision":"` + gb.Status.Sync.Revision + `"`},
		},
		{
			name: "manifests at a revision", method: "ApplicationService.GetManifests", route: "GET /api/v1/applications/{name}/manifests",
			target: "/api/v1/applications/guestbook/manifests?revision=" + rev2, code: 200, app: "guestbook",
			want: []string{`"revision":"` + rev2 + `"`},
		},
		{
			name: "update", method: "ApplicationService.Update", route: "PUT /api/v1/applications/{application.metadata.name}",
			target: "/api/v1/applications/guestbook", body: putBody(t, gb, "guestbook", "", rev2), code: 200, app: "guestbook",
			want: []string{`"name":"guestbook"`, `"via":"put"`},
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) {
				replaced(t, gb, get(t, ac, "guestbook"), rev2)
			},
		},
		{
			name: "update with project and validate", method: "ApplicationService.Update", route: "PUT /api/v1/applications/{application.metadata.name}",
			target: "/api/v1/applications/guestbook?project=default&validate=false", body: putBody(t, gb, "guestbook", "argocd", rev2), code: 200, app: "guestbook",
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) {
				replaced(t, gb, get(t, ac, "guestbook"), rev2)
			},
		},
		{
			// As argocd-server: the path value does not reach the request
			// (TestArgoGatewayUpdateNameFromBody), so no app is named.
			name: "update without metadata.name", method: "ApplicationService.Update", route: "PUT /api/v1/applications/{application.metadata.name}",
			target: "/api/v1/applications/guestbook", body: putBody(t, gb, "", "", rev2), code: 403, app: "",
			want:  deny,
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) { unchanged(t, ac, gb) },
		},
		{
			// argocd-server's client Get of "" fails ("resource name may not
			// be empty"), which is not a NotFound: permission denied even
			// with a project.
			name: "update without metadata.name with project", method: "ApplicationService.Update", route: "PUT /api/v1/applications/{application.metadata.name}",
			target: "/api/v1/applications/guestbook?project=default", body: putBody(t, gb, "", "", rev2), code: 403, app: "",
			want:  deny,
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) { unchanged(t, ac, gb) },
		},
		{
			name: "update names another app in the body", method: "ApplicationService.Update", route: "PUT /api/v1/applications/{application.metadata.name}",
			target: "/api/v1/applications/guestbook", body: putBody(t, f.search, "search", "", "HEAD"), code: 200, app: "search",
			want: []string{`"name":"search"`},
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) {
				unchanged(t, ac, gb)
				if s := get(t, ac, "search"); s.Labels["via"] != "put" {
					t.Errorf("search not updated: %v", s.Labels)
				}
			},
		},
		{
			name: "update in a namespace that is not enabled", method: "ApplicationService.Update", route: "PUT /api/v1/applications/{application.metadata.name}",
			target: "/api/v1/applications/guestbook?project=default", body: putBody(t, gb, "guestbook", "team-ns", rev2), code: 403, app: "team-ns/guestbook",
			want: deny,
		},
		{
			name: "update in another project", method: "ApplicationService.Update", route: "PUT /api/v1/applications/{application.metadata.name}",
			target: "/api/v1/applications/guestbook?project=payments", body: putBody(t, gb, "guestbook", "", rev2), code: 404, app: "guestbook",
			want:  []string{`applications.argoproj.io \"guestbook\" not found`},
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) { unchanged(t, ac, gb) },
		},
		{
			name: "update spec", method: "ApplicationService.UpdateSpec", route: "PUT /api/v1/applications/{name}/spec",
			target: "/api/v1/applications/guestbook/spec?project=default&validate=true", body: specJSON, code: 200, app: "guestbook",
			want: []string{`"targetRevision":"` + rev2 + `"`},
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) {
				if a := get(t, ac, "guestbook"); a.Spec.Source.TargetRevision != rev2 || !maps.Equal(a.Labels, gb.Labels) {
					t.Errorf("spec not updated or labels changed: %q %v", a.Spec.Source.TargetRevision, a.Labels)
				}
			},
		},
		{
			name: "update spec in another project", method: "ApplicationService.UpdateSpec", route: "PUT /api/v1/applications/{name}/spec",
			target: "/api/v1/applications/guestbook/spec?project=payments", body: specJSON, code: 404, app: "guestbook",
		},
		{
			name: "patch", method: "ApplicationService.Patch", route: "PATCH /api/v1/applications/{name}",
			target: "/api/v1/applications/frontend",
			body:   `{"name":"checkout","patchType":"merge","patch":"{\"metadata\":{\"labels\":{\"patched\":\"yes\"}}}"}`,
			code:   200, app: "frontend", want: []string{`"patched":"yes"`, `"name":"frontend"`},
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) {
				if get(t, ac, "checkout").Labels["patched"] != "" || get(t, ac, "frontend").Labels["team"] != "web" {
					t.Error("the patch went to the body's app or replaced the labels")
				}
			},
		},
		{
			name: "sync", method: "ApplicationService.Sync", route: "POST /api/v1/applications/{name}/sync",
			target: "/api/v1/applications/search/sync", body: `{"name":"checkout","prune":true}`, code: 200, app: "search",
			want: []string{`"name":"search"`, `"operation":`, `"prune":true`},
			check: func(t *testing.T, ac applicationpkg.ApplicationServiceClient, _ []byte) {
				if get(t, ac, "checkout").Operation != nil {
					t.Error("the body's app was synced")
				}
			},
		},
		{
			name: "rollback", method: "ApplicationService.Rollback", route: "POST /api/v1/applications/{name}/rollback",
			target: "/api/v1/applications/guestbook/rollback", body: `{"name":"payments","id":2}`, code: 200, app: "guestbook",
			want: []string{`"name":"guestbook"`, `"revision":"` + rev2 + `"`},
		},
		{
			name: "terminate", method: "ApplicationService.TerminateOperation", route: "DELETE /api/v1/applications/{name}/operation",
			target: "/api/v1/applications/ledger/operation?appNamespace=argocd", code: 200, app: "ledger",
			want: []string{`{}`},
			setup: func(t *testing.T, ac applicationpkg.ApplicationServiceClient) {
				if _, err := ac.Sync(ctxT(t), &applicationpkg.ApplicationSyncRequest{Name: str("ledger")}); err != nil {
					t.Fatal(err)
				}
				eventually(t, "ledger operation running", func() bool {
					st := get(t, ac, "ledger").Status.OperationState
					return st != nil && st.FinishedAt == nil
				})
			},
		},
		{
			name: "terminate without an operation", method: "ApplicationService.TerminateOperation", route: "DELETE /api/v1/applications/{name}/operation",
			target: "/api/v1/applications/search/operation", code: 400, app: "search",
			want: []string{"Unable to terminate operation. No operation is in progress"},
		},
		{
			name: "managed resources", method: "ApplicationService.ManagedResources", route: "GET /api/v1/applications/{applicationName}/managed-resources",
			target: "/api/v1/applications/frontend/managed-resources?kind=Deployment", code: 200, app: "frontend",
			want: []string{`"kind":"Deployment"`, `"namespace":"frontend"`},
			check: func(t *testing.T, _ applicationpkg.ApplicationServiceClient, body []byte) {
				if strings.Contains(string(body), `"kind":"Service"`) {
					t.Error("kind filter from the query ignored")
				}
			},
		},
		{
			name: "resource tree", method: "ApplicationService.ResourceTree", route: "GET /api/v1/applications/{applicationName}/resource-tree",
			target: "/api/v1/applications/frontend/resource-tree", code: 200, app: "frontend",
			want: []string{`"kind":"ReplicaSet"`, `"name":"` + f.frontendPod + `"`},
		},
		{
			name: "pod logs", method: "ApplicationService.PodLogs", route: "GET /api/v1/applications/{name}/pods/{podName}/logs",
			target: "/api/v1/applications/frontend/pods/" + f.frontendPod + "/logs?tailLines=2", code: 200, app: "frontend",
			want: []string{`"podName":"` + f.frontendPod + `"`, `"last":true`},
			check: func(t *testing.T, _ applicationpkg.ApplicationServiceClient, body []byte) {
				if lines := strings.Split(strings.TrimSpace(string(body)), "\n"); len(lines) != 3 {
					t.Errorf("want 2 lines of one pod and the last entry: %s", body)
				}
			},
		},
		{
			name: "app logs", method: "ApplicationService.PodLogs", route: "GET /api/v1/applications/{name}/logs",
			target: "/api/v1/applications/frontend/logs?tailLines=1", code: 200, app: "frontend",
			want: []string{`"podName":"` + f.frontendPod + `"`, `"last":true`},
			check: func(t *testing.T, _ applicationpkg.ApplicationServiceClient, body []byte) {
				if lines := strings.Split(strings.TrimSpace(string(body)), "\n"); len(lines) != 4 {
					t.Errorf("want a line from each of 3 pods and the last entry: %s", body)
				}
			},
		},
		{
			// The path's repo URL (escaped into one segment) replaces the
			// body's, and is unescaped as argocd-server's interceptor does.
			name: "app details", method: "RepositoryService.GetAppDetails", route: "POST /api/v1/repositories/{source.repoURL}/appdetails",
			target: "/api/v1/repositories/" + url.QueryEscape(repo) + "/appdetails",
			body:   `{"source":` + srcJSON("https://example.com/not-this.git") + `,"appName":"guestbook","appProject":"default"}`,
			code:   200, app: "guestbook", want: []string{`"type":"Helm"`, `"name":"image.tag"`},
		},
		{
			// First registered wins on grpc-gateway's mux: GET
			// /api/v1/repositories is the deprecated List, which argocd-server
			// answers as ListRepositories.
			name: "repositories", method: "RepositoryService.List", route: "GET /api/v1/repositories",
			target: "/api/v1/repositories", code: 200,
			want: []string{`"repo":"` + repo + `"`, `"status":"Successful"`},
		},
		{
			name: "projects", method: "ProjectService.List", route: "GET /api/v1/projects",
			target: "/api/v1/projects", code: 200, want: []string{`"name":"default"`, `"name":"payments"`},
		},
		{
			name: "project", method: "ProjectService.Get", route: "GET /api/v1/projects/{name}",
			target: "/api/v1/projects/payments", code: 200, want: []string{`"name":"payments"`},
		},
		{
			name: "unknown project", method: "ProjectService.Get", route: "GET /api/v1/projects/{name}",
			target: "/api/v1/projects/nope", code: 404, want: []string{`appprojects.argoproj.io \"nope\" not found`},
		},
		{
			name: "settings", method: "SettingsService.Get", route: "GET /api/v1/settings",
			target: "/api/v1/settings", code: 200, want: []string{`"appLabelKey":"app.kubernetes.io/instance"`},
		},
		{
			name: "version", method: "VersionService.Version", route: "GET /api/version",
			target: "/api/version", code: 200, want: []string{`"Version":"` + argocdsim.Version + `"`},
		},
	}
}

// TestRESTRoutes calls every REST route of every implemented method over
// HTTP, in every version the simulator speaks: the route reaches the method argo-cd's gateway sends it to, path
// values reach the request (and win over the body's, as the generated
// handlers set them after decoding it), and the simulator acts on the app
// they name. It fails if an implemented method's route has no case.
func TestRESTRoutes(t *testing.T) {
	f := loadFixtures(t)
	methods := servedMethods(t)
	routed := routedMethods(methods)
	rows := methodTable(t)
	cases := restCases(t, f)

	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.route] = true
	}
	for _, m := range methods {
		for _, r := range m.Routes {
			if routed[r.shape()].Key() == m.Key() && rows[m.Key()].implemented && !covered[r.String()] {
				t.Errorf("no REST case for %s (%s)", r, m.Key())
			}
		}
	}

	for _, version := range versions {
		t.Run(version, func(t *testing.T) { checkRESTCases(t, version, cases, methods, routed) })
	}
}

// checkRESTCases runs the REST cases against a simulator speaking version.
func checkRESTCases(t *testing.T, version string, cases []restCase, methods []rpcMethod, routed map[string]rpcMethod) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			verb, _, _ := strings.Cut(c.route, " ")
			var route httpRoute
			for _, m := range methods {
				for _, r := range m.Routes {
					if r.String() == c.route {
						route = r
					}
				}
			}
			m, ok := routed[route.shape()]
			if route.Path == "" || !ok || m.Key() != c.method {
				t.Fatalf("%s is not a route of %s (routed to %s)", c.route, c.method, m.Key())
			}
			addr, s, ac := start(t, argocdsim.Options{OperationDuration: 20 * time.Second, Version: version})
			var want []string
			for _, w := range c.want {
				want = append(want, strings.ReplaceAll(w, argocdsim.Version, s.Version().Raw))
			}
			if c.setup != nil {
				c.setup(t, ac)
			}
			before := s.Stats().Calls
			code, body := restCall(t, verb, "http://"+addr+c.target, c.body, c.stream)
			if code != c.code {
				t.Fatalf("%s %s: %d, want %d: %.500s", verb, c.target, code, c.code, body)
			}
			for _, w := range want {
				if !strings.Contains(string(body), w) {
					t.Errorf("response lacks %s: %.800s", w, body)
				}
			}
			key := counterKey(methods, m)
			after := s.Stats().Calls
			if got, want := after[key][c.app]-before[key][c.app], 1; got != want || len(after[key]) != len(before[key])+boolInt(before[key][c.app] == 0) {
				t.Errorf("calls of %s: before %v after %v; want one more for app %q", key, before[key], after[key], c.app)
			}
			if c.check != nil {
				c.check(t, ac, body)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// restCall sends one authenticated JSON request; with stream it returns the
// first line of a stream that does not end.
func restCall(t *testing.T, verb, target, body string, stream bool) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, verb, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if stream {
		line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
		if err != nil {
			t.Fatalf("first line of %s: %v", target, err)
		}
		return resp.StatusCode, line
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestAppLookupLikeArgoCD covers how argocd-server v2.14 finds the app a
// request names (getAppEnforceRBAC): the name is used as sent ("ns/name" is
// split by the CLI, not the server), methods that read through the API
// client deny any failed lookup, and those that read the informer cache
// answer NotFound when the request names a project.
func TestAppLookupLikeArgoCD(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx := ctxT(t)
	const denied = "permission denied"
	notFound := func(name string) string { return `applications.argoproj.io "` + name + `" not found` }

	_, err := ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("argocd/guestbook")})
	wantCode(t, err, codes.PermissionDenied, denied)
	_, err = ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("argocd/guestbook"), Projects: []string{"default"}})
	wantCode(t, err, codes.PermissionDenied, denied)
	_, err = ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str(""), Projects: []string{"default"}})
	wantCode(t, err, codes.PermissionDenied, denied)
	_, err = ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("guestbook"), AppNamespace: str("team-ns"), Project: str("default")})
	wantCode(t, err, codes.PermissionDenied, denied)
	_, err = ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("guestbook"), AppNamespace: str("argocd"), Projects: []string{"default"}})
	if err != nil {
		t.Fatalf("explicit argocd namespace: %v", err)
	}

	// Informer-backed methods: a miss is NotFound once a project is named.
	_, err = ac.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("argocd/guestbook"), Project: str("default")})
	wantCode(t, err, codes.NotFound, notFound("argocd/guestbook"))
	_, err = ac.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("guestbook"), AppNamespace: str("team-ns"), Project: str("default")})
	wantCode(t, err, codes.NotFound, notFound("guestbook"))
	_, err = ac.ManagedResources(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("argocd/guestbook")})
	wantCode(t, err, codes.PermissionDenied, denied)

	// Watch compares the name as sent.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	stream, err := ac.Watch(wctx, &applicationpkg.ApplicationQuery{Name: str("argocd/guestbook")})
	if err == nil {
		var ev *v1alpha1.ApplicationWatchEvent
		if ev, err = stream.Recv(); err == nil {
			t.Fatalf("Watch of argocd/guestbook sent %s %s", ev.Type, ev.Application.Name)
		}
	}
	// The server sees the propagated deadline too and may end the stream
	// (EOF) a moment before the client's own timer fires; only an end well
	// before the deadline is one.
	if dl, _ := wctx.Deadline(); wctx.Err() == nil && time.Until(dl) > 100*time.Millisecond {
		t.Fatalf("Watch ended %s before its deadline: %v", time.Until(dl), err)
	}
}
