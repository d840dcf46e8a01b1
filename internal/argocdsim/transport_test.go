package argocdsim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apiclient"
	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argocdsim/simtest"
)

func TestAuth(t *testing.T) {
	addr, _, _ := start(t, fastOpts)
	raw := applicationpkg.NewApplicationServiceClient(rawConn(t, addr))
	q := &applicationpkg.ApplicationQuery{}
	ctx := ctxT(t)

	_, err := raw.List(ctx, q)
	wantCode(t, err, codes.Unauthenticated, "no session information")
	_, err = raw.List(withToken(ctx, "authorization", "Bearer wrong"), q)
	wantCode(t, err, codes.Unauthenticated, "")
	_, err = raw.List(withToken(ctx, "authorization", "Basic "+token), q)
	wantCode(t, err, codes.Unauthenticated, "")
	if _, err := raw.List(withToken(ctx, "authorization", "Bearer "+token), q); err != nil {
		t.Fatalf("Authorization: Bearer: %v", err)
	}
	// argo-cd's client sends the token in the "token" metadata key.
	if _, err := raw.List(withToken(ctx, "token", token), q); err != nil {
		t.Fatalf("token metadata: %v", err)
	}

	c := appClient(t, newClient(t, addr, func(o *apiclient.ClientOptions) { o.AuthToken = "nope" }))
	_, err = c.List(ctx, q)
	wantCode(t, err, codes.Unauthenticated, "")

	// A custom token replaces the default.
	addr2, _ := simtest.Start(t, argocdsim.Options{Token: "s3cret"})
	raw2 := applicationpkg.NewApplicationServiceClient(rawConn(t, addr2))
	_, err = raw2.List(withToken(ctx, "token", token), q)
	wantCode(t, err, codes.Unauthenticated, "")
	if _, err := raw2.List(withToken(ctx, "token", "s3cret"), q); err != nil {
		t.Fatal(err)
	}
}

func TestFaultInjectionAndCounters(t *testing.T) {
	addr, s, ac := start(t, fastOpts)
	ctx := ctxT(t)

	s.SetLatency("Get", 300*time.Millisecond)
	t0 := time.Now()
	get(t, ac, "guestbook")
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Fatalf("latency not applied: %v", d)
	}
	s.SetLatency("Get", 0)

	s.FailNext("Sync", 2, codes.Internal)
	for i := 0; i < 2; i++ {
		_, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("search")})
		wantCode(t, err, codes.Internal, "injected failure of Sync (fault injection)")
	}
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("search")}); err != nil {
		t.Fatalf("third Sync: %v", err)
	}
	if n := s.Calls("Sync", "search"); n != 3 {
		t.Fatalf("Sync calls = %d", n)
	}

	// argo-cd v2.14's client registers a retry interceptor but a second
	// WithUnaryInterceptor replaces it, so an Unavailable reaches the caller.
	s.FailNext("Get", 1, codes.Unavailable)
	_, err := ac.Get(ctx, &applicationpkg.ApplicationQuery{Name: str("payments")})
	wantCode(t, err, codes.Unavailable, "injected failure of Get (fault injection)")
	get(t, ac, "payments")
	if n := s.Calls("Get", "payments"); n != 2 {
		t.Fatalf("Get payments calls = %d, want 2", n)
	}

	// Down: every call is Unavailable (checked without argo's retries).
	raw := applicationpkg.NewApplicationServiceClient(rawConn(t, addr))
	s.SetDown(true)
	_, err = raw.Get(withToken(ctx, "token", token), &applicationpkg.ApplicationQuery{Name: str("guestbook")})
	wantCode(t, err, codes.Unavailable, "")
	s.SetDown(false)
	if _, err := raw.Get(withToken(ctx, "token", token), &applicationpkg.ApplicationQuery{Name: str("guestbook")}); err != nil {
		t.Fatal(err)
	}

	// Streams are counted and faulted per app too.
	s.FailNext("PodLogs", 1, codes.ResourceExhausted)
	stream, err := raw.PodLogs(withToken(ctx, "token", token), &applicationpkg.ApplicationPodLogsQuery{Name: str("ledger")})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.ResourceExhausted, "")
	if s.Calls("PodLogs", "ledger") != 1 || s.Stats().Calls["List"] != nil {
		t.Fatalf("stats %+v", s.Stats())
	}

	s.Reset()
	if len(s.Stats().Calls) != 0 {
		t.Fatalf("Reset kept counters: %+v", s.Stats())
	}
}

func TestResetRestoresSeed(t *testing.T) {
	_, s, ac := start(t, fastOpts)
	ctx := ctxT(t)
	seeded := get(t, ac, "frontend")
	if _, err := ac.Sync(ctx, &applicationpkg.ApplicationSyncRequest{Name: str("frontend")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Patch(ctx, &applicationpkg.ApplicationPatchRequest{Name: str("payments"), PatchType: str("merge"), Patch: str(`{"spec":{"syncPolicy":{"automated":null}}}`)}); err != nil {
		t.Fatal(err)
	}
	s.SetDown(true)
	s.Reset()
	a := get(t, ac, "frontend")
	if a.Operation != nil || a.Status.Sync.Status != seeded.Status.Sync.Status || len(a.Status.History) != len(seeded.Status.History) {
		t.Fatalf("frontend not reset: op=%v sync=%s", a.Operation, a.Status.Sync.Status)
	}
	if p := get(t, ac, "payments"); p.Spec.SyncPolicy.Automated == nil {
		t.Fatal("payments auto-sync not restored")
	}
	// Timers of the cancelled operation must not touch the restored app.
	time.Sleep(500 * time.Millisecond)
	if a := get(t, ac, "frontend"); a.Status.OperationState.Phase != seeded.Status.OperationState.Phase || len(a.Status.History) != len(seeded.Status.History) {
		t.Fatal("stale operation changed the app after Reset")
	}
}

func httpGet(t testing.TB, client *http.Client, url string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func httpPost(t testing.TB, client *http.Client, url, body string, hdr ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestREST(t *testing.T) {
	addr, s, _ := start(t, fastOpts)
	base := "http://" + addr
	c := http.DefaultClient
	auth := []string{"Authorization", "Bearer " + token}

	code, body := httpGet(t, c, base+"/api/v1/applications")
	if code != http.StatusUnauthorized {
		t.Fatalf("no token: %d %s", code, body)
	}
	var errBody map[string]any
	if err := json.Unmarshal(body, &errBody); err != nil || errBody["code"] != float64(codes.Unauthenticated) || errBody["message"] != "no session information" || errBody["error"] == nil {
		t.Fatalf("401 body %s", body)
	}

	code, body = httpGet(t, c, base+"/api/v1/applications", auth...)
	var list struct {
		Metadata struct{ ResourceVersion string } `json:"metadata"`
		Items    []struct {
			Metadata struct{ Name string } `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list.Items) != 6 || list.Items[0].Metadata.Name != "checkout" {
		t.Fatalf("list: %d %v %s", code, err, body[:min(len(body), 300)])
	}

	code, body = httpGet(t, c, base+"/api/v1/applications?projects=payments&selector=tier%3Dcritical", auth...)
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list.Items) != 1 || list.Items[0].Metadata.Name != "payments" {
		t.Fatalf("filtered list: %d %s", code, body[:min(len(body), 300)])
	}

	// The argocd.token cookie works like in the UI.
	code, body = httpGet(t, c, base+"/api/v1/applications/guestbook", "Cookie", "argocd.token="+token)
	var app map[string]any
	if err := json.Unmarshal(body, &app); code != 200 || err != nil {
		t.Fatalf("get: %d %s", code, body)
	}
	hist := app["status"].(map[string]any)["history"].([]any)
	if len(hist) < 12 || hist[0].(map[string]any)["deployedAt"] == nil || hist[0].(map[string]any)["id"] != float64(0) {
		t.Fatalf("history JSON %v", hist[0])
	}

	code, body = httpGet(t, c, base+"/api/v1/applications/nope?projects=default", auth...)
	if code != http.StatusNotFound || !strings.Contains(string(body), `applications.argoproj.io \"nope\" not found`) {
		t.Fatalf("not found: %d %s", code, body)
	}

	// Non-GET calls must be application/json (argocd-server --api-content-types).
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/applications/search/sync", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("sync without content type: %d", resp.StatusCode)
	}
	code, body = httpPost(t, c, base+"/api/v1/applications/search/sync", `{}`, auth...)
	if code != 200 || !strings.Contains(string(body), `"operation"`) {
		t.Fatalf("sync: %d %s", code, body)
	}
	code, body = httpPost(t, c, base+"/api/v1/applications/payments/rollback", `{"id":1}`, auth...)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "rollback cannot be initiated when auto-sync is enabled") {
		t.Fatalf("rollback: %d %s", code, body)
	}
	// PATCH /api/v1/applications/{name} with a merge patch.
	req, _ = http.NewRequest(http.MethodPatch, base+"/api/v1/applications/payments",
		strings.NewReader(`{"name":"payments","patchType":"merge","patch":"{\"spec\":{\"syncPolicy\":{\"automated\":null}}}"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var patched struct {
		Spec struct {
			SyncPolicy map[string]any `json:"syncPolicy"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(pb, &patched); err != nil || resp.StatusCode != 200 {
		t.Fatalf("patch: %d %s", resp.StatusCode, pb)
	}
	if sp := patched.Spec.SyncPolicy; sp["automated"] != nil || sp["retry"] == nil || sp["syncOptions"] == nil {
		t.Fatalf("patched syncPolicy %v", sp)
	}

	// appdetails with the repo URL escaped into one path segment.
	repo := "https://github.com/deploybot-demo/guestbook.git"
	src := `{"repoURL":"` + repo + `","path":"charts/guestbook","targetRevision":"HEAD","helm":{"valueFiles":["values.yaml","values-production.yaml"]}}`
	code, body = httpPost(t, c, base+"/api/v1/repositories/"+url.QueryEscape(repo)+"/appdetails",
		`{"source":`+src+`,"appName":"guestbook","appProject":"default"}`, auth...)
	if code != 200 || !strings.Contains(string(body), `"name":"image.tag"`) || !strings.Contains(string(body), `"type":"Helm"`) {
		t.Fatalf("appdetails: %d %s", code, body)
	}

	// Streaming endpoints: newline-delimited {"result": ...}.
	code, body = httpGet(t, c, base+"/api/v1/applications/frontend/logs?tailLines=2", auth...)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if code != 200 || len(lines) != 7 || !strings.Contains(lines[6], `"last":true`) {
		t.Fatalf("logs: %d %s", code, body)
	}

	code, body = httpGet(t, c, base+"/api/v1/applications/frontend/resource-tree", auth...)
	if code != 200 || !strings.Contains(string(body), `"kind":"ReplicaSet"`) {
		t.Fatalf("resource-tree: %d %s", code, body)
	}

	// Admin API needs no token.
	code, body = httpGet(t, c, base+"/sim/stats")
	var st argocdsim.Stats
	if err := json.Unmarshal(body, &st); code != 200 || err != nil || st.Calls["Sync"]["search"] != 1 || st.Calls["Get"]["guestbook"] != 1 || st.Calls["GetAppDetails"]["guestbook"] != 1 {
		t.Fatalf("stats: %d %s", code, body)
	}
	code, body = httpPost(t, c, base+"/sim/faults", `{"latency":{"List":"150ms","Get":20},"failNext":{"method":"Get","count":1,"code":"NOT_FOUND"},"down":false,"outcomes":{"guestbook":{"phase":"Failed"}}}`)
	if code != 200 || !strings.Contains(string(body), `"List": "150ms"`) || !strings.Contains(string(body), `"code": "NotFound"`) {
		t.Fatalf("faults: %d %s", code, body)
	}
	t0 := time.Now()
	httpGet(t, c, base+"/api/v1/applications", auth...)
	if time.Since(t0) < 150*time.Millisecond {
		t.Fatal("latency via /sim/faults not applied")
	}
	code, _ = httpGet(t, c, base+"/api/v1/applications/guestbook", auth...)
	if code != http.StatusNotFound {
		t.Fatalf("failNext via /sim/faults: %d", code)
	}
	code, body = httpPost(t, c, base+"/sim/faults", `{"down":true}`)
	if code != 200 {
		t.Fatal(string(body))
	}
	code, _ = httpGet(t, c, base+"/api/v1/applications", auth...)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("down: %d", code)
	}
	code, body = httpPost(t, c, base+"/sim/faults", `{"bogus":1}`)
	if code != http.StatusBadRequest {
		t.Fatalf("unknown field accepted: %d %s", code, body)
	}
	code, _ = httpPost(t, c, base+"/sim/reset", ``)
	if code != 200 || len(s.Stats().Calls) != 0 {
		t.Fatalf("reset: %d", code)
	}
	if code, _ := httpGet(t, c, base+"/api/v1/applications", auth...); code != 200 {
		t.Fatalf("after reset: %d", code)
	}
}

func TestGRPCWeb(t *testing.T) {
	isolateHome(t)
	addr, s := simtest.Start(t, fastOpts)
	ac := appClient(t, newClient(t, addr, func(o *apiclient.ClientOptions) { o.GRPCWeb = true }))
	ctx := ctxT(t)
	list, err := ac.List(ctx, &applicationpkg.ApplicationQuery{})
	if err != nil || len(list.Items) != 6 {
		t.Fatalf("list over grpc-web: %v", err)
	}
	_, err = ac.Rollback(ctx, &applicationpkg.ApplicationRollbackRequest{Name: str("payments"), Id: i64(1)})
	wantCode(t, err, codes.FailedPrecondition, "rollback cannot be initiated when auto-sync is enabled")
	stream, err := ac.PodLogs(ctx, &applicationpkg.ApplicationPodLogsQuery{Name: str("frontend"), TailLines: i64(1)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(collectLogs(t, stream)); n != 4 {
		t.Fatalf("grpc-web logs: %d entries", n)
	}
	if s.Calls("Rollback", "payments") != 1 {
		t.Fatalf("grpc-web calls not counted: %+v", s.Stats())
	}
	// Auth applies to grpc-web as well.
	bad := appClient(t, newClient(t, addr, func(o *apiclient.ClientOptions) { o.GRPCWeb = true; o.AuthToken = "bad" }))
	_, err = bad.List(ctx, &applicationpkg.ApplicationQuery{})
	wantCode(t, err, codes.Unauthenticated, "")
}

func TestTLS(t *testing.T) {
	isolateHome(t)
	addr, s := simtest.Start(t, argocdsim.Options{TLS: true, OperationDuration: 300 * time.Millisecond})
	pemBytes := s.CertPEM()
	if !bytes.Contains(pemBytes, []byte("BEGIN CERTIFICATE")) {
		t.Fatal("no certificate")
	}
	certFile := writeFile(t, "ca.pem", pemBytes)
	for _, web := range []bool{false, true} {
		ac := appClient(t, newClient(t, addr, func(o *apiclient.ClientOptions) { o.PlainText = false; o.CertFile = certFile; o.GRPCWeb = web }))
		if _, err := ac.Get(ctxT(t), &applicationpkg.ApplicationQuery{Name: str("guestbook")}); err != nil {
			t.Fatalf("grpcWeb=%v over TLS: %v", web, err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	code, body := httpGet(t, c, "https://"+addr+"/api/v1/applications/search", "Authorization", "Bearer "+token)
	if code != 200 || !strings.Contains(string(body), `"name":"search"`) {
		t.Fatalf("REST over TLS: %d %s", code, body)
	}
	// Untrusted certificates are rejected.
	if _, err := http.Get("https://" + addr + "/sim/stats"); err == nil {
		t.Fatal("TLS without trusting the cert should fail")
	}
	if (&argocdsim.Server{}).CertPEM() != nil {
		t.Fatal("CertPEM must be nil without TLS")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- argocdsim.Run(ctx, "127.0.0.1:0", fastOpts) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
