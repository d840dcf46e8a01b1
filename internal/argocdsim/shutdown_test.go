package argocdsim_test

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"

	"github.com/deploybot/deploybot/internal/argocdsim"
)

// simGoroutines lists goroutines running simulator code.
func simGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "deploybot/internal/argocdsim.") {
			out = append(out, g)
		}
	}
	return out
}

func TestShutdownEndsStreamsAndTimers(t *testing.T) {
	isolateHome(t)
	s, err := argocdsim.New(argocdsim.Options{OperationDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	ac := appClient(t, newClient(t, l.Addr().String()))
	ctx := ctxT(t)

	// Leave an operation timer, a watch, a followed log and a delayed call pending.
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("guestbook")}); err != nil {
		t.Fatal(err)
	}
	watch, err := ac.Watch(ctx, &applicationpkg.ApplicationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	logs, err := ac.PodLogs(ctx, &applicationpkg.ApplicationPodLogsQuery{Name: str("search"), Follow: boolp(true), TailLines: i64(1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := logs.Recv(); err != nil {
		t.Fatal(err)
	}
	s.SetLatency("List", time.Hour)
	listErr := make(chan error, 1)
	go func() {
		_, err := ac.List(ctx, &applicationpkg.ApplicationQuery{})
		listErr <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if len(simGoroutines()) == 0 {
		t.Fatal("the goroutine check sees no simulator goroutines while streams are open")
	}

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v after Shutdown", err)
	}
	if err := <-listErr; err == nil {
		t.Fatal("delayed call should fail on shutdown")
	}
	for {
		if _, err := watch.Recv(); err != nil {
			break
		}
	}
	for {
		if _, err := logs.Recv(); err != nil {
			break
		}
	}
	eventually(t, "simulator goroutines to exit", func() bool { return len(simGoroutines()) == 0 })
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
