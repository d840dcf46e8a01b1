package argocdsim_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apiclient"
	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	versionpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/version"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
)

// versions are the release lines the simulator speaks.
var versions = []string{"2.14", "3.0", "3.1"}

// TestVersionOption: each accepted Options.Version selects a release and
// the server reports it (Server.Version and VersionService.Version over
// gRPC, gRPC-Web and REST); anything else fails New naming what is accepted.
func TestVersionOption(t *testing.T) {
	for _, tc := range []struct{ in, raw, semver string }{
		{"", argocdsim.Version, "2.14.21"},
		{"2.14", "v2.14.21+argocdsim", "2.14.21"},
		{"3.0", "v3.0.23+argocdsim", "3.0.23"},
		{"3.1", "v3.1.16+argocdsim", "3.1.16"},
		{"v3.1.16", "v3.1.16", "3.1.16"},
		{"v3.0.5+abc1234", "v3.0.5+abc1234", "3.0.5"},
		{"v2.14.3", "v2.14.3", "2.14.3"},
	} {
		t.Run("version "+tc.in, func(t *testing.T) {
			isolateHome(t)
			addr, s := simtest.Start(t, argocdsim.Options{Version: tc.in})
			if v := s.Version(); v.Raw != tc.raw || v.String() != tc.semver {
				t.Fatalf("Server.Version() = %q (%s), want %q (%s)", v.Raw, v, tc.raw, tc.semver)
			}
			if v, err := argocdsim.ParseVersion(tc.in); err != nil || v.Raw != tc.raw {
				t.Fatalf("ParseVersion(%q) = %q, %v", tc.in, v.Raw, err)
			}
			for _, grpcWeb := range []bool{false, true} {
				closer, vc, err := newClient(t, addr, func(o *apiclient.ClientOptions) { o.GRPCWeb = grpcWeb }).NewVersionClient()
				if err != nil {
					t.Fatal(err)
				}
				msg, err := vc.Version(ctxT(t), &emptypb.Empty{})
				_ = closer.Close()
				if err != nil {
					t.Fatalf("grpcWeb=%v: %v", grpcWeb, err)
				}
				if msg.Version != tc.raw {
					t.Fatalf("grpcWeb=%v: VersionService reports %q, want %q", grpcWeb, msg.Version, tc.raw)
				}
			}
			code, body := restCall(t, "GET", "http://"+addr+"/api/version", "", false)
			var msg versionpkg.VersionMessage
			if err := json.Unmarshal(body, &msg); code != 200 || err != nil || msg.Version != tc.raw {
				t.Fatalf("GET /api/version: %d %s (%v)", code, body, err)
			}
		})
	}

	for _, bad := range []string{"3", "3.2", "v3.2.0", "v2.13.4", "v4.0.0", "3.1.16", "latest", "v3.1"} {
		_, err := argocdsim.New(argocdsim.Options{Version: bad})
		if err == nil {
			t.Errorf("New accepted Version %q", bad)
			continue
		}
		for _, want := range []string{`"` + bad + `"`, `"2.14", "3.0", "3.1"`, "v3.1.16"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Version %q: error %q lacks %s", bad, err, want)
			}
		}
		if _, perr := argocdsim.ParseVersion(bad); perr == nil || perr.Error() != err.Error() {
			t.Errorf("ParseVersion(%q) = %v, want New's error", bad, perr)
		}
	}
}

// TestVersionMessageNeedsLogin: like argocd-server, the version alone for a
// caller without a valid token, the build's details for a logged-in one.
func TestVersionMessageNeedsLogin(t *testing.T) {
	addr, _ := simtest.Start(t, argocdsim.Options{Version: "3.1"})
	vc := versionpkg.NewVersionServiceClient(rawConn(t, addr))
	for _, ctx := range []context.Context{ctxT(t), withToken(ctxT(t), "token", "wrong")} {
		msg, err := vc.Version(ctx, &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		if msg.Version != "v3.1.16+argocdsim" || msg.GitTag != "" || msg.HelmVersion != "" || msg.Platform != "" {
			t.Fatalf("anonymous Version = %+v, want the version only", msg)
		}
	}
	msg, err := vc.Version(withToken(ctxT(t), "token", token), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Version != "v3.1.16+argocdsim" || msg.GitTag != "v3.1.16" || msg.GitTreeState != "clean" || msg.HelmVersion != "v3.18.4" ||
		msg.KustomizeVersion != "v5.7.0" || msg.KubectlVersion != "v0.33.1" || msg.JsonnetVersion != "v0.21.0" ||
		msg.Platform == "" || msg.GoVersion == "" || msg.Compiler == "" || msg.BuildDate == "" {
		t.Fatalf("logged-in Version = %+v", msg)
	}
}

// TestResourceHealthByVersion: from 3.0 the controller keeps per-resource
// health in the resource tree only (status.resourceHealthSource appTree);
// Get and Watch fill status.resources[].health in from the tree, List,
// Sync and the update methods answer the app as stored, without it. In
// 2.14 every answer carries it.
func TestResourceHealthByVersion(t *testing.T) {
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			addr, _, ac := start(t, argocdsim.Options{Version: version, OperationDuration: 300 * time.Millisecond})
			ctx := ctxT(t)
			inline := version == "2.14"
			wantSource := v1alpha1.ResourceHealthLocationAppTree
			if inline {
				wantSource = v1alpha1.ResourceHealthLocationInline
			}
			// carries reports whether every resource of app has health, or
			// (false) none has; a mix fails the test.
			carries := func(what string, app *v1alpha1.Application) bool {
				t.Helper()
				if app.Status.ResourceHealthSource != wantSource {
					t.Fatalf("%s: resourceHealthSource %q, want %q", what, app.Status.ResourceHealthSource, wantSource)
				}
				n := 0
				for _, r := range app.Status.Resources {
					if r.Health != nil {
						n++
					}
				}
				if len(app.Status.Resources) == 0 || (n != 0 && n != len(app.Status.Resources)) {
					t.Fatalf("%s: %d of %d resources with health", what, n, len(app.Status.Resources))
				}
				return n > 0
			}

			list, err := ac.List(ctx, &applicationpkg.ApplicationQuery{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range list.Items {
				if got := carries("List "+list.Items[i].Name, &list.Items[i]); got != inline {
					t.Errorf("List %s: resource health %v, want %v", list.Items[i].Name, got, inline)
				}
			}
			if !carries("Get", get(t, ac, "checkout")) {
				t.Errorf("Get: no resource health")
			}
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := ac.Watch(wctx, &applicationpkg.ApplicationQuery{Name: str("checkout")})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if !carries("Watch ADDED", &ev.Application) {
				t.Errorf("Watch: no resource health")
			}
			synced, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("checkout")})
			if err != nil {
				t.Fatal(err)
			}
			if got := carries("Sync", synced); got != inline {
				t.Errorf("Sync: resource health %v, want %v", got, inline)
			}
			// The health Get fills in is the tree's, as it changes: checkout
			// ends Degraded.
			var app *v1alpha1.Application
			eventually(t, "checkout Degraded", func() bool { app = get(t, ac, "checkout"); return settled(app) })
			tree, err := ac.ResourceTree(ctx, &applicationpkg.ResourcesQuery{ApplicationName: str("checkout")})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range app.Status.Resources {
				for _, n := range tree.Nodes {
					if n.Kind == r.Kind && n.Name == r.Name && n.Namespace == r.Namespace && (r.Health == nil || *r.Health != *n.Health) {
						t.Errorf("Get %s/%s health %+v, tree %+v", r.Kind, r.Name, r.Health, n.Health)
					}
				}
				if r.Kind == "Deployment" && r.Health.Status != "Degraded" {
					t.Errorf("Deployment health %s, want Degraded", r.Health.Status)
				}
			}
			for ev.Application.Status.Health.Status != "Degraded" {
				if ev, err = stream.Recv(); err != nil {
					t.Fatal(err)
				}
				if !carries("Watch MODIFIED", &ev.Application) {
					t.Errorf("Watch event without resource health")
				}
			}

			// REST answers as gRPC does.
			_, body := restCall(t, "GET", "http://"+addr+"/api/v1/applications/guestbook", "", false)
			var one v1alpha1.Application
			if err := json.Unmarshal(body, &one); err != nil || !carries("REST Get", &one) {
				t.Errorf("REST Get: %v, resource health missing", err)
			}
			_, body = restCall(t, "GET", "http://"+addr+"/api/v1/applications?name=guestbook", "", false)
			var many v1alpha1.ApplicationList
			if err := json.Unmarshal(body, &many); err != nil || len(many.Items) != 1 || carries("REST List", &many.Items[0]) != inline {
				t.Errorf("REST List: %v, resource health present should be %v", err, inline)
			}
		})
	}
}
