package argocdsim_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apiclient"
	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
)

const token = argocdsim.DefaultToken

// fastOpts keeps operation timelines short; assertions never depend on speed.
var fastOpts = argocdsim.Options{OperationDuration: 300 * time.Millisecond}

func isolateHome(t testing.TB) {
	t.Helper()
	// apiclient reads ~/.config/argocd/config; keep tests independent of it.
	t.Setenv("HOME", t.TempDir())
	t.Setenv("ARGOCD_SERVER", "")
	t.Setenv("ARGOCD_AUTH_TOKEN", "")
}

// newClient returns argo-cd's own API client for the simulator.
func newClient(t testing.TB, addr string, mod ...func(*apiclient.ClientOptions)) apiclient.Client {
	t.Helper()
	opts := &apiclient.ClientOptions{
		ServerAddr: addr,
		PlainText:  true,
		AuthToken:  token,
		ConfigPath: filepath.Join(t.TempDir(), "argocd-config"),
	}
	for _, m := range mod {
		m(opts)
	}
	c, err := apiclient.NewClient(opts)
	if err != nil {
		t.Fatalf("apiclient.NewClient: %v", err)
	}
	return c
}

func appClient(t testing.TB, c apiclient.Client) applicationpkg.ApplicationServiceClient {
	t.Helper()
	closer, ac, err := c.NewApplicationClient()
	if err != nil {
		t.Fatalf("NewApplicationClient: %v", err)
	}
	t.Cleanup(func() { _ = closer.Close() })
	return ac
}

func repoClient(t testing.TB, c apiclient.Client) repositorypkg.RepositoryServiceClient {
	t.Helper()
	closer, rc, err := c.NewRepoClient()
	if err != nil {
		t.Fatalf("NewRepoClient: %v", err)
	}
	t.Cleanup(func() { _ = closer.Close() })
	return rc
}

// start runs a simulator and returns it with an application client.
func start(t *testing.T, opts argocdsim.Options) (string, *argocdsim.Server, applicationpkg.ApplicationServiceClient) {
	t.Helper()
	isolateHome(t)
	addr, s := simtest.Start(t, opts)
	return addr, s, appClient(t, newClient(t, addr))
}

// rawConn is a plain gRPC connection without argo's retrying interceptors.
func rawConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func withToken(ctx context.Context, key, value string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, key, value)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func str(s string) *string { return &s }
func i64(n int64) *int64   { return &n }
func boolp(b bool) *bool   { return &b }

func get(t testing.TB, ac applicationpkg.ApplicationServiceClient, name string) *v1alpha1.Application {
	t.Helper()
	app, err := ac.Get(ctxT(t), &applicationpkg.ApplicationQuery{Name: str(name)})
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	return app
}

// eventually polls cond until it holds or 15s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled reports whether the app has no operation and a final health.
func settled(app *v1alpha1.Application) bool {
	st := app.Status.OperationState
	return app.Operation == nil && st != nil && st.FinishedAt != nil && app.Status.Health.Status != "Progressing"
}

func wantCode(t testing.TB, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("want %s error, got %v", code, err)
	}
	if msg != "" && st.Message() != msg {
		t.Fatalf("want message %q, got %q", msg, st.Message())
	}
}

// collectLogs reads a PodLogs stream to its end.
func collectLogs(t testing.TB, stream applicationpkg.ApplicationService_PodLogsClient) []*applicationpkg.LogEntry {
	t.Helper()
	var out []*applicationpkg.LogEntry
	for {
		e, err := stream.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("PodLogs Recv: %v", err)
		}
		out = append(out, e)
	}
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
