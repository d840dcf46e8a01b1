package argocd_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argocd"
	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
	"github.com/deploybot/deploybot/internal/testenv"
)

const testToken = "test-token"

// Every behaviour is checked over both transports apiclient offers.
var transports = []struct {
	name    string
	grpcWeb bool
}{{"grpc", false}, {"grpcweb", true}}

func startSim(t *testing.T, mut ...func(*argocdsim.Options)) (string, *argocdsim.Server) {
	t.Helper()
	opts := argocdsim.Options{Token: testToken, OperationDuration: 300 * time.Millisecond}
	for _, m := range mut {
		m(&opts)
	}
	return simtest.Start(t, opts)
}

func newClient(t *testing.T, url string, grpcWeb bool, mut ...func(*argocd.Options)) *argocd.Client {
	t.Helper()
	opts := argocd.Options{URL: url, Token: testToken, GRPCWeb: grpcWeb, VerifySSL: true, UserAgent: "deploybot-test"}
	for _, m := range mut {
		m(&opts)
	}
	c, err := argocd.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds; no timing is asserted, the deadline
// only stops a broken test.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition never held", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitOperation(t *testing.T, c *argocd.Client, name string) *v1alpha1.Application {
	t.Helper()
	var app *v1alpha1.Application
	eventually(t, "operation of "+name+" ends", func() (bool, error) {
		var err error
		got, err := c.GetApp(ctxT(t), name)
		if err != nil {
			return false, err
		}
		app = got.Application
		st := app.Status.OperationState
		return st != nil && st.Phase.Completed(), nil
	})
	return app
}

func wantKind(t *testing.T, err error, sentinel *argocd.Error) *argocd.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s error, got nil", sentinel.Kind)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("want %s, got %s: %v", sentinel.Kind, argocd.KindOf(err), err)
	}
	var e *argocd.Error
	errors.As(err, &e)
	return e
}

func TestReadMethods(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			addr, sim := startSim(t)
			c := newClient(t, "http://"+addr, tr.grpcWeb)
			ctx := ctxT(t)

			apps, err := c.ListApps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, a := range apps {
				names[a.Name] = true
			}
			for _, n := range []string{"guestbook", "payments", "checkout", "frontend", "ledger", "search"} {
				if !names[n] {
					t.Errorf("ListApps lacks %s (got %v)", n, names)
				}
			}

			gb, err := c.GetApp(ctx, "guestbook")
			if err != nil {
				t.Fatal(err)
			}
			if gb.Spec.Project != "default" || len(gb.Status.History) < 12 {
				t.Fatalf("guestbook: project %q, %d history entries", gb.Spec.Project, len(gb.Status.History))
			}
			if gb.Status.Sync.Status != v1alpha1.SyncStatusCodeSynced || gb.Status.Health.Status != "Healthy" {
				t.Fatalf("guestbook: %s/%s", gb.Status.Sync.Status, gb.Status.Health.Status)
			}

			tree, err := c.ResourceTree(ctx, "frontend")
			if err != nil {
				t.Fatal(err)
			}
			pods := 0
			for _, n := range tree.Nodes {
				if n.Kind == "Pod" {
					pods++
				}
			}
			if pods != 3 {
				t.Fatalf("frontend tree has %d pods, want 3", pods)
			}

			// Tail semantics: tail 2 is the end of tail 5, per pod.
			logs5, err := c.PodLogs(ctx, "frontend", 5)
			if err != nil {
				t.Fatal(err)
			}
			logs2, err := c.PodLogs(ctx, "frontend", 2)
			if err != nil {
				t.Fatal(err)
			}
			if got := sim.Calls("PodLogs", "frontend"); got != 2 {
				t.Fatalf("PodLogs calls = %d, want 2 (one stream per PodLogs, no per-pod calls)", got)
			}
			if len(logs5) != 3 || len(logs2) != 3 {
				t.Fatalf("want 3 pods, got %d and %d: %+v", len(logs5), len(logs2), logs5)
			}
			seen := map[string]bool{}
			for i, pl := range logs5 {
				if pl.Pod == "" || seen[pl.Pod] {
					t.Fatalf("pod names: %+v", logs5)
				}
				seen[pl.Pod] = true
				if len(pl.Lines) != 5 {
					t.Fatalf("pod %s: %d lines with tail 5", pl.Pod, len(pl.Lines))
				}
				if logs2[i].Pod != pl.Pod || !reflect.DeepEqual(logs2[i].Lines, pl.Lines[3:]) {
					t.Fatalf("tail 2 of %s = %q, want the end of %q", pl.Pod, logs2[i].Lines, pl.Lines)
				}
			}
			if reflect.DeepEqual(logs5[0].Lines, logs5[1].Lines) {
				t.Fatalf("pods of frontend log the same lines: %q", logs5[0].Lines)
			}

			// Helm parameters differ per history entry.
			h := gb.Status.History
			a, err := c.HelmParameters(ctx, gb, h[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.HelmParameters(ctx, gb, h[1].ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"image.tag", "replicaCount"} {
				if a[k] == "" || b[k] == "" || a[k] == b[k] {
					t.Fatalf("%s: history %d=%q, %d=%q; want different non-empty values", k, h[0].ID, a[k], h[1].ID, b[k])
				}
			}
			_, err = c.HelmParameters(ctx, gb, 987654)
			wantKind(t, err, argocd.ErrUnknownHistoryID)

			search, err := c.GetApp(ctx, "search")
			if err != nil {
				t.Fatal(err)
			}
			if len(search.Status.History) > 0 {
				p, err := c.HelmParameters(ctx, search, search.Status.History[0].ID)
				if err != nil || len(p) != 0 {
					t.Fatalf("plain manifests: %v, %v; want empty map", p, err)
				}
			}
		})
	}
}

func TestSyncRollbackAndOperationInProgress(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			addr, sim := startSim(t)
			c := newClient(t, "http://"+addr, tr.grpcWeb)
			ctx := ctxT(t)

			app, err := c.Sync(ctx, "guestbook", argocd.SyncOptions{Prune: true})
			if err != nil {
				t.Fatal(err)
			}
			if app.Name != "guestbook" {
				t.Fatalf("Sync returned %q", app.Name)
			}
			// The first operation is still running: Argo CD refuses a second one.
			_, err = c.Sync(ctx, "guestbook", argocd.SyncOptions{})
			e := wantKind(t, err, argocd.ErrOperationInProgress)
			if e.Retryable() || e.Code != codes.FailedPrecondition || !strings.Contains(e.Error(), "sync guestbook:") {
				t.Fatalf("op in progress: %+v: %v", e, e)
			}
			app = waitOperation(t, c, "guestbook")
			if app.Status.OperationState.Phase != "Succeeded" {
				t.Fatalf("sync ended %s", app.Status.OperationState.Phase)
			}

			before := len(app.Status.History)
			target := app.Status.History[0]
			if _, err := c.Rollback(ctx, "guestbook", target.ID); err != nil {
				t.Fatal(err)
			}
			app = waitOperation(t, c, "guestbook")
			// Argo CD runs a rollback as a sync to the history entry's revision.
			if st := app.Status.OperationState; st.Phase != "Succeeded" || st.Operation.Sync == nil || st.Operation.Sync.Revision != target.Revision {
				t.Fatalf("rollback operation: %+v", st)
			}
			if len(app.Status.History) < before {
				t.Fatalf("history shrank: %d -> %d", before, len(app.Status.History))
			}

			_, err = c.Rollback(ctx, "guestbook", 987654)
			e = wantKind(t, err, argocd.ErrUnknownHistoryID)
			if e.Code != codes.InvalidArgument || !strings.Contains(e.Error(), "rollback_revisions guestbook") {
				t.Fatalf("unknown id: %v", e)
			}

			// checkout's next operation ends Degraded.
			if _, err := c.Sync(ctx, "checkout", argocd.SyncOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "checkout degrades", func() (bool, error) {
				a, err := c.GetApp(ctx, "checkout")
				if err != nil {
					return false, err
				}
				return a.Status.OperationState != nil && a.Status.OperationState.Phase.Completed() &&
					a.Status.Health.Status == "Degraded", nil
			})
			if got := sim.Calls("Sync", "guestbook"); got != 2 {
				t.Fatalf("Sync calls = %d, want 2", got)
			}
		})
	}
}

func TestAutoSyncDisableRollbackEnable(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			addr, sim := startSim(t)
			c := newClient(t, "http://"+addr, tr.grpcWeb)
			ctx := ctxT(t)

			orig, err := c.GetApp(ctx, "payments")
			if err != nil {
				t.Fatal(err)
			}
			if orig.Spec.SyncPolicy == nil || orig.Spec.SyncPolicy.Automated == nil {
				t.Fatal("payments should start with auto-sync on")
			}
			target := orig.Status.History[0].ID

			_, err = c.Rollback(ctx, "payments", target)
			e := wantKind(t, err, argocd.ErrAutoSyncEnabled)
			if e.Code != codes.FailedPrecondition || !strings.Contains(e.Error(), "AUTO_DISABLE_SYNC_ON_ROLLBACK=true") {
				t.Fatalf("auto-sync refusal: %v", e)
			}

			off, err := c.DisableAutoSync(ctx, "payments")
			if err != nil {
				t.Fatal(err)
			}
			removed := off.Policy
			if off.ByEnabled || off.Server.Raw == "" {
				t.Fatalf("disable on a v2.14 simulator: %+v, want automated removed and the server version", off)
			}
			if removed == nil || *removed != *orig.Spec.SyncPolicy.Automated {
				t.Fatalf("removed = %+v, want %+v", removed, orig.Spec.SyncPolicy.Automated)
			}
			after, err := c.GetApp(ctx, "payments")
			if err != nil {
				t.Fatal(err)
			}
			if after.Spec.SyncPolicy == nil || after.Spec.SyncPolicy.Automated != nil {
				t.Fatalf("automated still set: %+v", after.Spec.SyncPolicy)
			}
			// The merge patch keeps everything else.
			if !reflect.DeepEqual(after.Spec.SyncPolicy.Retry, orig.Spec.SyncPolicy.Retry) ||
				!reflect.DeepEqual(after.Spec.SyncPolicy.SyncOptions, orig.Spec.SyncPolicy.SyncOptions) {
				t.Fatalf("syncPolicy changed beyond automated:\n before %+v\n after  %+v", orig.Spec.SyncPolicy, after.Spec.SyncPolicy)
			}
			if !reflect.DeepEqual(after.Labels, orig.Labels) || !reflect.DeepEqual(after.Annotations, orig.Annotations) ||
				!reflect.DeepEqual(after.Finalizers, orig.Finalizers) {
				t.Fatal("metadata changed by DisableAutoSync")
			}

			again, err := c.DisableAutoSync(ctx, "payments")
			if err != nil || again.Policy != nil {
				t.Fatalf("second disable: %+v, %v; want nil, nil", again, err)
			}
			if got := sim.Calls("Patch", "payments"); got != 1 {
				t.Fatalf("Patch calls = %d, want 1 (no patch when already off)", got)
			}

			if _, err := c.Rollback(ctx, "payments", target); err != nil {
				t.Fatalf("rollback after disabling auto-sync: %v", err)
			}
			if app := waitOperation(t, c, "payments"); app.Status.OperationState.Phase != "Succeeded" {
				t.Fatalf("rollback ended %s", app.Status.OperationState.Phase)
			}

			if on, err := c.EnableAutoSync(ctx, "payments", *removed); err != nil || on.Policy == nil || on.ByEnabled {
				t.Fatalf("enable: %+v, %v", on, err)
			}
			restored, err := c.GetApp(ctx, "payments")
			if err != nil {
				t.Fatal(err)
			}
			if restored.Spec.SyncPolicy.Automated == nil || *restored.Spec.SyncPolicy.Automated != *removed ||
				!reflect.DeepEqual(restored.Spec.SyncPolicy.SyncOptions, orig.Spec.SyncPolicy.SyncOptions) {
				t.Fatalf("restored policy %+v, want automated %+v", restored.Spec.SyncPolicy, removed)
			}
			// Enabling what is on changes nothing.
			if on, err := c.EnableAutoSync(ctx, "payments", v1alpha1.SyncPolicyAutomated{}); err != nil || on.Policy != nil {
				t.Fatalf("enable when on: %+v, %v", on, err)
			}
			// false flags are written, not omitted, so they override.
			if _, err := c.DisableAutoSync(ctx, "payments"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.EnableAutoSync(ctx, "payments", v1alpha1.SyncPolicyAutomated{}); err != nil {
				t.Fatal(err)
			}
			if a, err := c.GetApp(ctx, "payments"); err != nil || a.Spec.SyncPolicy.Automated == nil ||
				*a.Spec.SyncPolicy.Automated != (v1alpha1.SyncPolicyAutomated{}) {
				t.Fatalf("enable with all flags false: %+v, %v", a.Spec.SyncPolicy, err)
			}
		})
	}
}

func TestTypedErrors(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			addr, sim := startSim(t)
			c := newClient(t, "http://"+addr, tr.grpcWeb)
			ctx := ctxT(t)

			_, err := c.GetApp(ctx, "no-such-app")
			// Real Argo CD answers PermissionDenied for unknown apps; NotFound
			// is what a server that reveals existence says. Both are typed.
			if !errors.Is(err, argocd.ErrAppNotFound) && !errors.Is(err, argocd.ErrPermissionDenied) {
				t.Fatalf("unknown app: %s: %v", argocd.KindOf(err), err)
			}
			if !strings.Contains(err.Error(), "list_apps") {
				t.Fatalf("unknown app message: %v", err)
			}

			sim.FailNext("Get", 1, codes.PermissionDenied)
			_, err = c.GetApp(ctx, "guestbook")
			e := wantKind(t, err, argocd.ErrPermissionDenied)
			if !strings.Contains(e.Error(), "does not exist") || !strings.Contains(e.Error(), "RBAC") {
				t.Fatalf("permission denied message: %v", e)
			}
			if _, err := c.GetApp(ctx, "guestbook"); err != nil {
				t.Fatalf("FailNext 1 should fail only once: %v", err)
			}

			// One attempt per call: apiclient's own retry interceptor is off,
			// Temporal's activity retry decides.
			sim.FailNext("Sync", 1, codes.Unavailable)
			_, err = c.Sync(ctx, "guestbook", argocd.SyncOptions{})
			if e := wantKind(t, err, argocd.ErrUnavailable); !e.Retryable() {
				t.Fatal("Unavailable must be retryable")
			}
			if got := sim.Calls("Sync", "guestbook"); got != 1 {
				t.Fatalf("Sync calls after one Unavailable = %d, want 1 (no hidden retry)", got)
			}

			// Streams and the repository service map the same way.
			sim.FailNext("PodLogs", 1, codes.Unavailable)
			_, err = c.PodLogs(ctx, "frontend", 3)
			wantKind(t, err, argocd.ErrUnavailable)
			gb, err := c.GetApp(ctx, "guestbook")
			if err != nil {
				t.Fatal(err)
			}
			sim.FailNext("GetAppDetails", 1, codes.PermissionDenied)
			_, err = c.HelmParameters(ctx, gb, gb.Status.History[0].ID)
			if e := wantKind(t, err, argocd.ErrPermissionDenied); !strings.Contains(e.Error(), "repositories, get") {
				t.Fatalf("helm parameters denied: %v", e)
			}
			sim.FailNext("Patch", 1, codes.PermissionDenied)
			_, err = c.DisableAutoSync(ctx, "payments")
			if e := wantKind(t, err, argocd.ErrPermissionDenied); !strings.Contains(e.Error(), "applications, update") {
				t.Fatalf("patch denied: %v", e)
			}

			bad := newClient(t, "http://"+addr, tr.grpcWeb, func(o *argocd.Options) { o.Token = "wrong" })
			_, err = bad.ListApps(ctx)
			e = wantKind(t, err, argocd.ErrUnauthenticated)
			if e.Retryable() || !strings.Contains(e.Error(), "argocd account generate-token") {
				t.Fatalf("unauthenticated: %v", e)
			}

			sim.SetLatency("Get", 5*time.Second)
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err = c.GetApp(short, "guestbook")
			cancel()
			if e := wantKind(t, err, argocd.ErrUnavailable); !errors.Is(e, context.DeadlineExceeded) || !e.Retryable() {
				t.Fatalf("deadline: %v", err)
			}
			sim.SetLatency("Get", 0)

			canceled, cancel := context.WithCancel(ctx)
			cancel()
			_, err = c.GetApp(canceled, "guestbook")
			if !errors.Is(err, context.Canceled) || errors.Is(err, argocd.ErrUnavailable) {
				t.Fatalf("cancelled: %v", err)
			}

			sim.SetDown(true)
			_, err = c.ListApps(ctx)
			if e := wantKind(t, err, argocd.ErrUnavailable); !e.Retryable() {
				t.Fatalf("down: %v", e)
			}
			sim.SetDown(false)
			if _, err := c.ListApps(ctx); err != nil {
				t.Fatalf("after SetDown(false): %v", err)
			}

			_, err = c.GetApp(ctx, "")
			wantKind(t, err, argocd.ErrInvalidArgument)

			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ListApps(ctx); err == nil {
				t.Fatal("call on closed client succeeded")
			}
		})
	}
}

func TestServerUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens here now
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, "http://"+addr, tr.grpcWeb)
			_, err := c.ListApps(ctxT(t))
			if e := wantKind(t, err, argocd.ErrUnavailable); !e.Retryable() || !strings.Contains(e.Error(), "ARGOCD_URL") {
				t.Fatalf("unreachable: %v", e)
			}
		})
	}
}

// TestNewSilentPeer: something accepts TCP but never speaks gRPC (an
// HTTP/1.1-only proxy, a wrong port). New must fail, not hang.
func TestNewSilentPeer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				<-done
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); close(done); conns.Wait() })
	_, err = argocd.New(argocd.Options{URL: "http://" + l.Addr().String(), Token: testToken})
	if err == nil || !strings.Contains(err.Error(), "does not answer gRPC") {
		t.Fatalf("New against a silent peer: %v", err)
	}
}

// TestNewWhileArgoCDIsDown: a server that answers "unavailable" is down,
// not misconfigured; New succeeds (a worker starting during an Argo CD
// outage must not crash-loop) and calls work once it is back.
func TestNewWhileArgoCDIsDown(t *testing.T) {
	t.Parallel()
	addr, sim := startSim(t)
	sim.SetDown(true)
	c, err := argocd.New(argocd.Options{URL: "http://" + addr, Token: testToken, VerifySSL: true})
	if err != nil {
		t.Fatalf("New while Argo CD is down: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.ListApps(ctxT(t)); err == nil {
		t.Fatal("ListApps while down succeeded")
	}
	sim.SetDown(false)
	if _, err := c.ListApps(ctxT(t)); err != nil {
		t.Fatalf("ListApps once Argo CD is back: %v", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	addr, sim := startSim(t, func(o *argocdsim.Options) { o.TLS = true })
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			ctx := ctxT(t)
			for _, url := range []string{"https://" + addr, addr} {
				trusted := newClient(t, url, tr.grpcWeb, func(o *argocd.Options) { o.CACertPEM = sim.CertPEM() })
				if _, err := trusted.ListApps(ctx); err != nil {
					t.Fatalf("%s with the sim's CA trusted: %v", url, err)
				}
			}
			// ARGOCD_CA_FILE: the mounted file is used as is (no temp copy,
			// so a read-only root filesystem is fine).
			caFile := filepath.Join(t.TempDir(), "ca.crt")
			if err := os.WriteFile(caFile, sim.CertPEM(), 0o400); err != nil {
				t.Fatal(err)
			}
			fromFile := newClient(t, "https://"+addr, tr.grpcWeb, func(o *argocd.Options) { o.CAFile = caFile })
			if _, err := fromFile.ListApps(ctx); err != nil {
				t.Fatalf("with ARGOCD_CA_FILE: %v", err)
			}
			for _, bad := range []string{filepath.Join(t.TempDir(), "missing.crt"), writeFile(t, "not a certificate")} {
				_, err := argocd.New(argocd.Options{URL: "https://" + addr, Token: testToken, GRPCWeb: tr.grpcWeb, VerifySSL: true, CAFile: bad})
				if err == nil || !strings.Contains(err.Error(), "ARGOCD_CA_FILE") {
					t.Errorf("ARGOCD_CA_FILE=%s: %v, want an error naming ARGOCD_CA_FILE", bad, err)
				}
			}

			untrusted := newClient(t, "https://"+addr, tr.grpcWeb)
			_, err := untrusted.ListApps(ctx)
			e := wantKind(t, err, argocd.ErrTLS)
			if e.Retryable() || !strings.Contains(e.Error(), "ARGOCD_VERIFY_SSL") || !strings.Contains(e.Error(), "x509") {
				t.Fatalf("untrusted cert: %v", e)
			}

			var logs testenv.SyncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			insecure := newClient(t, "https://"+addr, tr.grpcWeb, func(o *argocd.Options) {
				o.VerifySSL, o.Logger = false, logger
			})
			if _, err := insecure.ListApps(ctx); err != nil {
				t.Fatalf("VerifySSL=false: %v", err)
			}
			if _, err := insecure.GetApp(ctx, "guestbook"); err != nil {
				t.Fatalf("VerifySSL=false: %v", err)
			}
			if got := logs.String(); strings.Count(got, "level=WARN") != 1 || !strings.Contains(got, "ARGOCD_VERIFY_SSL=false") {
				t.Fatalf("want exactly one insecure-TLS warning, log:\n%s", got)
			}
		})
	}

	// apiclient's own connect probe would block forever here; New refuses
	// with advice instead.
	t.Run("http against TLS", func(t *testing.T) {
		_, err := argocd.New(argocd.Options{URL: "http://" + addr, Token: testToken, VerifySSL: true})
		if err == nil || !strings.Contains(err.Error(), "https://") || !strings.Contains(err.Error(), "ARGOCD_GRPC_WEB") {
			t.Fatalf("New with http:// against a TLS port: %v", err)
		}
	})

	t.Run("https against plaintext", func(t *testing.T) {
		plainAddr, _ := startSim(t)
		c := newClient(t, "https://"+plainAddr, false)
		_, err := c.ListApps(ctxT(t))
		if e := wantKind(t, err, argocd.ErrTLS); !strings.Contains(e.Error(), "http://") {
			t.Fatalf("https against plaintext: %v", e)
		}
	})
}

// TestGRPCWebRootPath serves the simulator under /argocd behind a real
// reverse proxy, as an ingress with a path prefix would.
func TestGRPCWebRootPath(t *testing.T) {
	t.Parallel()
	addr, _ := startSim(t)
	target, _ := url.Parse("http://" + addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.Handle("/argocd/", http.StripPrefix("/argocd", proxy))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	// No GRPCWeb flag: the path prefix implies it.
	c := newClient(t, "http://"+l.Addr().String()+"/argocd/", false)
	ctx := ctxT(t)
	app, err := c.GetApp(ctx, "guestbook")
	if err != nil {
		t.Fatal(err)
	}
	if app.Name != "guestbook" {
		t.Fatalf("got %q", app.Name)
	}
	logs, err := c.PodLogs(ctx, "frontend", 3)
	if err != nil || len(logs) != 3 {
		t.Fatalf("PodLogs through the prefix: %v, %v", logs, err)
	}
	_, err = c.GetApp(ctx, "no-such-app")
	if !errors.Is(err, argocd.ErrAppNotFound) && !errors.Is(err, argocd.ErrPermissionDenied) {
		t.Fatalf("status errors through the prefix: %v", err)
	}

	wrong := newClient(t, "http://"+l.Addr().String()+"/wrong", false)
	_, err = wrong.ListApps(ctx)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("wrong prefix: %v", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	addr, _ := startSim(t)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c := newClient(t, "http://"+addr, tr.grpcWeb)
			ctx := ctxT(t)
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := 0; i < 16; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := c.GetApp(ctx, "ledger")
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
