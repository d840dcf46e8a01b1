package argocd_test

import (
	"context"
	"net"
	"sync"
	"testing"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	versionpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/version"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/golang/protobuf/ptypes/empty"
	"google.golang.org/grpc"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/deploybot/deploybot/internal/argocd"
)

// nsRecorder is an ApplicationService that records the name and
// appNamespace of every request, as argocd-server reads them.
type nsRecorder struct {
	applicationpkg.UnimplementedApplicationServiceServer
	mu   sync.Mutex
	seen map[string][2]string
}

func (r *nsRecorder) record(method, name, ns string) *v1alpha1.Application {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[method] = [2]string{name, ns}
	return &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ApplicationSpec{SyncPolicy: &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{}}}}
}

func (r *nsRecorder) Get(_ context.Context, q *applicationpkg.ApplicationQuery) (*v1alpha1.Application, error) {
	return r.record("Get", q.GetName(), q.GetAppNamespace()), nil
}
func (r *nsRecorder) Sync(_ context.Context, q *applicationpkg.ApplicationSyncRequest) (*v1alpha1.Application, error) {
	return r.record("Sync", q.GetName(), q.GetAppNamespace()), nil
}
func (r *nsRecorder) Rollback(_ context.Context, q *applicationpkg.ApplicationRollbackRequest) (*v1alpha1.Application, error) {
	return r.record("Rollback", q.GetName(), q.GetAppNamespace()), nil
}
func (r *nsRecorder) Patch(_ context.Context, q *applicationpkg.ApplicationPatchRequest) (*v1alpha1.Application, error) {
	a := r.record("Patch", q.GetName(), q.GetAppNamespace())
	a.Spec.SyncPolicy.Automated = nil // as after automated: null
	return a, nil
}
func (r *nsRecorder) ResourceTree(_ context.Context, q *applicationpkg.ResourcesQuery) (*v1alpha1.ApplicationTree, error) {
	r.record("ResourceTree", q.GetApplicationName(), q.GetAppNamespace())
	return &v1alpha1.ApplicationTree{}, nil
}
func (r *nsRecorder) PodLogs(q *applicationpkg.ApplicationPodLogsQuery, _ applicationpkg.ApplicationService_PodLogsServer) error {
	r.record("PodLogs", q.GetName(), q.GetAppNamespace())
	return nil
}

type version214 struct {
	versionpkg.UnimplementedVersionServiceServer
}

func (version214) Version(context.Context, *empty.Empty) (*versionpkg.VersionMessage, error) {
	return &versionpkg.VersionMessage{Version: "v2.14.21+test"}, nil
}

// Every call the client makes splits "team-a/guestbook" into the name and
// appNamespace, which argocd-server does not do itself; a bare name sends
// no namespace (the server's own).
func TestEveryCallCarriesTheAppNamespace(t *testing.T) {
	rec := &nsRecorder{seen: map[string][2]string{}}
	gs := grpc.NewServer()
	applicationpkg.RegisterApplicationServiceServer(gs, rec)
	versionpkg.RegisterVersionServiceServer(gs, version214{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	c := newClient(t, "http://"+lis.Addr().String(), false)
	ctx := ctxT(t)

	for _, tc := range []struct{ app, name, ns string }{{"team-a/guestbook", "guestbook", "team-a"}, {"guestbook", "guestbook", ""}} {
		rec.seen = map[string][2]string{}
		if _, err := c.GetApp(ctx, tc.app); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Sync(ctx, tc.app, argocd.SyncOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Rollback(ctx, tc.app, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DisableAutoSync(ctx, tc.app); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ResourceTree(ctx, tc.app); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PodLogs(ctx, tc.app, 5); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"Get", "Sync", "Rollback", "Patch", "ResourceTree", "PodLogs"} {
			if got := rec.seen[m]; got != [2]string{tc.name, tc.ns} {
				t.Errorf("%s of %q sent name %q appNamespace %q, want %q %q", m, tc.app, got[0], got[1], tc.name, tc.ns)
			}
		}
	}
}
