package argocdsim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
	"google.golang.org/grpc/codes"
)

func TestPodLogsFanOutAndTail(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	stream, err := ac.PodLogs(ctxT(t), &applicationpkg.ApplicationPodLogsQuery{Name: str("frontend"), TailLines: i64(5)})
	if err != nil {
		t.Fatal(err)
	}
	entries := collectLogs(t, stream)
	perPod := map[string][]string{}
	for i, e := range entries[:len(entries)-1] {
		if e.GetLast() {
			t.Fatalf("entry %d is last", i)
		}
		perPod[e.GetPodName()] = append(perPod[e.GetPodName()], e.GetContent())
		if e.GetTimeStampStr() == "" || e.TimeStamp == nil {
			t.Fatalf("entry without timestamp: %+v", e)
		}
		if i > 0 && e.TimeStamp.Before(entries[i-1].TimeStamp) {
			t.Fatalf("entries not merged by time")
		}
	}
	if len(perPod) != 3 {
		t.Fatalf("want 3 pods, got %d", len(perPod))
	}
	var first []string
	for pod, lines := range perPod {
		if len(lines) != 5 {
			t.Fatalf("pod %s: %d lines, want tail 5", pod, len(lines))
		}
		if first != nil && strings.Join(lines, "\n") == strings.Join(first, "\n") {
			t.Fatal("pods should have different logs")
		}
		first = lines
	}
	last := entries[len(entries)-1]
	if !last.GetLast() || last.GetContent() != "" || last.GetPodName() != "" {
		t.Fatalf("final entry %+v", last)
	}

	// podName narrows to one pod.
	var pod string
	for p := range perPod {
		pod = p
		break
	}
	stream, err = ac.PodLogs(ctxT(t), &applicationpkg.ApplicationPodLogsQuery{Name: str("frontend"), PodName: str(pod), TailLines: i64(2)})
	if err != nil {
		t.Fatal(err)
	}
	entries = collectLogs(t, stream)
	if len(entries) != 3 || entries[0].GetPodName() != pod || entries[1].GetPodName() != pod {
		t.Fatalf("podName filter: %+v", entries)
	}

	// Without tailLines every line of every pod is returned; filter applies to content.
	stream, err = ac.PodLogs(ctxT(t), &applicationpkg.ApplicationPodLogsQuery{Name: str("guestbook"), Filter: str("starting")})
	if err != nil {
		t.Fatal(err)
	}
	entries = collectLogs(t, stream)
	if len(entries) < 2 {
		t.Fatalf("filtered entries %d", len(entries))
	}
	for _, e := range entries[:len(entries)-1] {
		if !strings.Contains(e.GetContent(), "starting") {
			t.Fatalf("filter not applied: %q", e.GetContent())
		}
	}
}

func TestPodLogsFollow(t *testing.T) {
	_, _, ac := start(t, fastOpts)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	stream, err := ac.PodLogs(ctx, &applicationpkg.ApplicationPodLogsQuery{Name: str("search"), TailLines: i64(1), Follow: boolp(true)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for n := 0; n < 4; n++ { // 2 tail lines, then new lines while following
		e, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetLast() {
			t.Fatal("follow must not end the stream")
		}
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("follow too slow")
	}
}

func TestGetAppDetailsPerRevision(t *testing.T) {
	addr, _, ac := start(t, fastOpts)
	rc := repoClient(t, newClient(t, addr))
	ctx := ctxT(t)
	app := get(t, ac, "guestbook")

	seen := map[string]bool{}
	replicas := map[string]bool{}
	for _, h := range app.Status.History {
		src := h.Source.DeepCopy()
		src.TargetRevision = h.Revision
		d, err := rc.GetAppDetails(ctx, &repositorypkg.RepoAppDetailsQuery{Source: src, AppName: "guestbook", AppProject: "default"})
		if err != nil {
			t.Fatalf("id %d: %v", h.ID, err)
		}
		if d.Type != "Helm" || d.Helm == nil || d.Directory != nil || len(d.Helm.ValueFiles) == 0 || d.Helm.Values == "" {
			t.Fatalf("id %d: details %+v", h.ID, d)
		}
		params := map[string]string{}
		for _, p := range d.Helm.Parameters {
			params[p.Name] = p.Value
		}
		if params["image.tag"] == "" || params["replicaCount"] == "" {
			t.Fatalf("id %d: params %v", h.ID, params)
		}
		seen[params["image.tag"]] = true
		replicas[params["replicaCount"]] = true
	}
	if len(seen) != len(app.Status.History) || len(replicas) < 2 {
		t.Fatalf("image tags %v replicas %v should differ per revision", seen, replicas)
	}

	// Plain manifests have no Helm details.
	search := get(t, ac, "search")
	d, err := rc.GetAppDetails(ctx, &repositorypkg.RepoAppDetailsQuery{Source: search.Spec.Source, AppName: "search", AppProject: "default"})
	if err != nil || d.Type != "Directory" || d.Helm != nil || d.Directory == nil {
		t.Fatalf("search details %+v %v", d, err)
	}

	// argocd-server refuses a wrong project and sources not in the app's history.
	_, err = rc.GetAppDetails(ctx, &repositorypkg.RepoAppDetailsQuery{Source: app.Spec.Source, AppName: "guestbook", AppProject: "payments"})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	bogus := app.Spec.Source.DeepCopy()
	bogus.TargetRevision = strings.Repeat("0", 40)
	_, err = rc.GetAppDetails(ctx, &repositorypkg.RepoAppDetailsQuery{Source: bogus, AppName: "guestbook", AppProject: "default"})
	wantCode(t, err, codes.PermissionDenied, "permission denied")
	_, err = rc.GetAppDetails(ctx, &repositorypkg.RepoAppDetailsQuery{AppName: "guestbook", AppProject: "default"})
	wantCode(t, err, codes.InvalidArgument, "missing payload in request")
}
