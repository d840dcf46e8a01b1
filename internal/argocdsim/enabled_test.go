package argocdsim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apiclient"
	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/deploybot/deploybot/internal/argocdsim"
	"github.com/deploybot/deploybot/internal/argowire"
)

// enabledSim is a simulator speaking version with clients that see the
// wire: raw gRPC calls whose answers' automated.enabled is read from the
// bytes, and REST.
type enabledSim struct {
	t    *testing.T
	addr string
	ac   applicationpkg.ApplicationServiceClient // argo-cd's own client
	raw  applicationpkg.ApplicationServiceClient // plain gRPC, token in metadata
	v31  bool
}

func startEnabled(t *testing.T, version string) *enabledSim {
	t.Helper()
	addr, _, ac := start(t, argocdsim.Options{Version: version, OperationDuration: 300 * time.Millisecond})
	return &enabledSim{t: t, addr: addr, ac: ac, raw: applicationpkg.NewApplicationServiceClient(rawConn(t, addr)), v31: version == "3.1"}
}

func (e *enabledSim) ctx() context.Context { return withToken(ctxT(e.t), "token", token) }

// wire returns a call option that keeps the answer's bytes, and a func
// reading automated.enabled at path from them (one value per policy).
func wire(t *testing.T, path argowire.Path) (grpc.CallOption, func() []argowire.Automated) {
	return wireCall(t, nil, nil, path)
}

// wireCall returns a call option that writes enabled (unless nil) into
// the request's automated policy at send, as a 3.1 client's types would,
// and a func reading the answer's automated.enabled at read.
func wireCall(t *testing.T, send argowire.Path, enabled *bool, read argowire.Path) (grpc.CallOption, func() []argowire.Automated) {
	var raw []byte
	codec := &argowire.Codec{
		Encoded: func(_ any, b []byte) ([]byte, error) {
			if enabled == nil {
				return b, nil
			}
			return argowire.Rewrite(b, send, func(int, argowire.Automated) *bool { return enabled })
		},
		Decoded: func(_ any, b []byte) error { raw = b; return nil },
	}
	return grpc.ForceCodecV2(codec), func() []argowire.Automated {
		t.Helper()
		found, err := argowire.Find(raw, read)
		if err != nil {
			t.Fatalf("reading the answer's bytes: %v", err)
		}
		return found
	}
}

// wantEnabled checks the automated policies an answer carried: want is
// "" for none with enabled, "false" or "true".
func wantEnabled(t *testing.T, what string, got []argowire.Automated, want string) {
	t.Helper()
	var s []string
	for _, a := range got {
		if a.Enabled != nil {
			s = append(s, map[bool]string{true: "true", false: "false"}[*a.Enabled])
		}
	}
	if strings.Join(s, ",") != want {
		t.Fatalf("%s: automated.enabled on the wire %v, want %q", what, s, want)
	}
}

func (e *enabledSim) patch(name, typ, patch string) ([]argowire.Automated, error) {
	e.t.Helper()
	opt, read := wire(e.t, argowire.ApplicationAutomated)
	_, err := e.raw.Patch(e.ctx(), &applicationpkg.ApplicationPatchRequest{Name: str(name), PatchType: str(typ), Patch: str(patch)}, opt)
	if err != nil {
		return nil, err
	}
	return read(), nil
}

func (e *enabledSim) mustPatch(name, typ, patch string) []argowire.Automated {
	e.t.Helper()
	got, err := e.patch(name, typ, patch)
	if err != nil {
		e.t.Fatalf("Patch %s %s: %v", name, patch, err)
	}
	return got
}

// rollback tries a rollback of payments to id 4 once no operation (e.g.
// an auto-sync) runs, and waits for it to end.
func (e *enabledSim) rollback() error {
	e.t.Helper()
	waitNoOperation(e.t, e.ac, "payments")
	_, err := e.raw.Rollback(e.ctx(), &applicationpkg.ApplicationRollbackRequest{Name: str("payments"), Id: i64(4)})
	if err == nil {
		waitNoOperation(e.t, e.ac, "payments")
	}
	return err
}

func (e *enabledSim) wantRollback(allowed bool) {
	e.t.Helper()
	err := e.rollback()
	if allowed && err != nil {
		e.t.Fatalf("rollback refused: %v", err)
	}
	if !allowed {
		wantCode(e.t, err, codes.FailedPrecondition, "rollback cannot be initiated when auto-sync is enabled")
	}
}

// rest calls the REST gateway and returns the body.
func (e *enabledSim) rest(verb, path, body string) string {
	e.t.Helper()
	code, b := restCall(e.t, verb, "http://"+e.addr+path, body, strings.HasPrefix(path, "/api/v1/stream/"))
	if code != 200 {
		e.t.Fatalf("%s %s: %d %s", verb, path, code, b)
	}
	return string(b)
}

const disable = `{"spec":{"syncPolicy":{"automated":{"enabled":false}}}}`

// TestEnabledOverGRPC: in 3.1 `automated: {enabled: false}` set by a merge
// patch turns auto-sync off with prune and selfHeal kept; every answer
// carrying the app says so on the wire, rollback is allowed, and enabled
// true (or a fresh automated policy) turns it on again. 2.14 and 3.0 drop
// the field as their types do: auto-sync stays on.
func TestEnabledOverGRPC(t *testing.T) {
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			e := startEnabled(t, version)
			want := func(s string) string {
				if e.v31 {
					return s
				}
				return ""
			}
			wantEnabled(t, "Patch", e.mustPatch("payments", "merge", disable), want("false"))
			app := get(t, e.ac, "payments")
			if a := app.Spec.SyncPolicy.Automated; a == nil || !a.Prune || !a.SelfHeal {
				t.Fatalf("automated after the patch: %+v, want prune and selfHeal kept", a)
			}

			opt, read := wire(t, argowire.ApplicationAutomated)
			if _, err := e.raw.Get(e.ctx(), &applicationpkg.ApplicationQuery{Name: str("payments")}, opt); err != nil {
				t.Fatal(err)
			}
			wantEnabled(t, "Get", read(), want("false"))
			opt, read = wire(t, argowire.ListAutomated)
			if _, err := e.raw.List(e.ctx(), &applicationpkg.ApplicationQuery{}, opt); err != nil {
				t.Fatal(err)
			}
			wantEnabled(t, "List", read(), want("false")) // payments is the only automated app
			watchOpt, readWatch := wire(t, argowire.WatchEventAutomated)
			stream, err := e.raw.Watch(e.ctx(), &applicationpkg.ApplicationQuery{Name: str("payments")}, watchOpt)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			wantEnabled(t, "Watch", readWatch(), want("false"))

			// Off, a sync may pick any revision; on, only the target.
			opt, read = wire(t, argowire.ApplicationAutomated)
			_, err = e.raw.Sync(e.ctx(), &applicationpkg.ApplicationSyncRequest{Name: str("payments"), Revision: str(app.Status.History[2].Revision)}, opt)
			if e.v31 {
				if err != nil {
					t.Fatalf("Sync to an old revision with auto-sync off: %v", err)
				}
				wantEnabled(t, "Sync", read(), "false")
				// The watch's MODIFIED events carry it too.
				if ev, err := stream.Recv(); err != nil || ev.Type != "MODIFIED" {
					t.Fatalf("Watch after Sync: %v %v", ev, err)
				}
				wantEnabled(t, "Watch MODIFIED", readWatch(), "false")
				waitNoOperation(t, e.ac, "payments")
			} else {
				wantCode(t, err, codes.FailedPrecondition, "")
			}
			e.wantRollback(e.v31)
			if e.v31 {
				opt, read = wire(t, argowire.ApplicationAutomated)
				if _, err := e.raw.Rollback(e.ctx(), &applicationpkg.ApplicationRollbackRequest{Name: str("payments"), Id: i64(4), DryRun: boolp(true)}, opt); err != nil {
					t.Fatal(err)
				}
				wantEnabled(t, "Rollback", read(), "false")
				waitNoOperation(t, e.ac, "payments")
			}

			// A JSON patch sees enabled where a 3.1 server's JSON has it.
			// (evanphx/json-patch v5.9, as in Argo CD, replaces a missing key
			// too; the v2 types then drop it.)
			wantEnabled(t, "JSON patch replace", e.mustPatch("payments", "json", `[{"op":"replace","path":"/spec/syncPolicy/automated/enabled","value":true}]`), want("true"))
			e.wantRollback(false)
			wantEnabled(t, "JSON patch add", e.mustPatch("payments", "json", `[{"op":"add","path":"/spec/syncPolicy/automated/enabled","value":false}]`), want("false"))
			e.wantRollback(e.v31)

			// Removing automated forgets enabled: a new policy is on.
			wantEnabled(t, "automated: null", e.mustPatch("payments", "merge", `{"spec":{"syncPolicy":{"automated":null}}}`), "")
			e.wantRollback(true)
			wantEnabled(t, "new automated", e.mustPatch("payments", "merge", `{"spec":{"syncPolicy":{"automated":{"prune":true}}}}`), "")
			e.wantRollback(false)

			// Update and UpdateSpec read enabled from the request.
			app = get(t, e.ac, "payments")
			opt, read = wireCall(t, argowire.UpdateAutomated, boolp(false), argowire.ApplicationAutomated)
			if _, err := e.raw.Update(e.ctx(), &applicationpkg.ApplicationUpdateRequest{Application: app}, opt); err != nil {
				t.Fatalf("Update: %v", err)
			}
			wantEnabled(t, "Update", read(), want("false"))
			e.wantRollback(e.v31)
			spec := get(t, e.ac, "payments").Spec
			opt, read = wireCall(t, argowire.UpdateSpecAutomated, boolp(true), argowire.SpecAutomated)
			if _, err := e.raw.UpdateSpec(e.ctx(), &applicationpkg.ApplicationUpdateSpecRequest{Name: str("payments"), Spec: &spec}, opt); err != nil {
				t.Fatalf("UpdateSpec: %v", err)
			}
			wantEnabled(t, "UpdateSpec", read(), want("true"))
			e.wantRollback(false)
			// A v2 request, without the field, is a policy without enabled: on.
			opt, read = wireCall(t, nil, nil, argowire.SpecAutomated)
			if _, err := e.raw.UpdateSpec(e.ctx(), &applicationpkg.ApplicationUpdateSpecRequest{Name: str("payments"), Spec: &spec}, opt); err != nil {
				t.Fatalf("UpdateSpec: %v", err)
			}
			wantEnabled(t, "UpdateSpec without enabled", read(), "")
			e.wantRollback(false)
		})
	}
}

// TestEnabledOverGRPCWeb: argo-cd's client in gRPC-Web mode gets the field
// as native gRPC clients do.
func TestEnabledOverGRPCWeb(t *testing.T) {
	e := startEnabled(t, "3.1")
	e.mustPatch("payments", "merge", disable)
	web := appClient(t, newClient(t, e.addr, func(o *apiclient.ClientOptions) { o.GRPCWeb = true }))
	opt, read := wire(t, argowire.ApplicationAutomated)
	if _, err := web.Get(ctxT(t), &applicationpkg.ApplicationQuery{Name: str("payments")}, opt); err != nil {
		t.Fatal(err)
	}
	wantEnabled(t, "gRPC-Web Get", read(), "false")
}

// TestEnabledAutoSync: the simulated controller auto-syncs only when
// IsAutomatedSyncEnabled holds: frontend (OutOfSync) with `automated:
// {enabled: false}` stays OutOfSync in 3.1 until enabled is true, while 2.14
// drops enabled, so the same patch turns auto-sync on.
func TestEnabledAutoSync(t *testing.T) {
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			e := startEnabled(t, version)
			e.mustPatch("frontend", "merge", disable)
			synced := func() bool { return get(t, e.ac, "frontend").Status.Sync.Status == v1alpha1.SyncStatusCodeSynced }
			if !e.v31 {
				eventually(t, "frontend auto-synced", synced)
				return
			}
			time.Sleep(time.Second) // several of the controller's pickup delays
			if app := get(t, e.ac, "frontend"); app.Operation != nil || app.Status.Sync.Status != v1alpha1.SyncStatusCodeOutOfSync {
				t.Fatalf("frontend with enabled: false: operation %v, sync %s; want no auto-sync", app.Operation, app.Status.Sync.Status)
			}
			e.mustPatch("frontend", "merge", `{"spec":{"syncPolicy":{"automated":{"enabled":true}}}}`)
			eventually(t, "frontend auto-synced once enabled", synced)
		})
	}
}

// automatedJSON returns the JSON object of the first automated policy in
// s, e.g. {"prune":true,"selfHeal":true,"enabled":false}.
func automatedJSON(t *testing.T, s string) string {
	t.Helper()
	i := strings.Index(s, `"automated":{`)
	if i < 0 {
		t.Fatalf("no automated policy in %.300s", s)
	}
	s = s[i+len(`"automated":`):]
	return s[:strings.Index(s, "}")+1]
}

// TestEnabledOverREST: the REST gateway writes "enabled" in every app it
// answers with, and reads it from PUT bodies, in 3.1; 2.14 and 3.0 drop it.
func TestEnabledOverREST(t *testing.T) {
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			e := startEnabled(t, version)
			off, plain := `{"prune":true,"selfHeal":true,"enabled":false}`, `{"prune":true,"selfHeal":true}`
			wantOff := plain
			if e.v31 {
				wantOff = off
			}
			body := e.rest("PATCH", "/api/v1/applications/payments", `{"patch":`+jsonString(disable)+`,"patchType":"merge"}`)
			if got := automatedJSON(t, body); got != wantOff {
				t.Fatalf("PATCH answers automated %s, want %s", got, wantOff)
			}
			for _, path := range []string{
				"/api/v1/applications/payments", "/api/v1/applications?name=payments", "/api/v1/applications",
				"/api/v1/applications?fields=items.metadata.name,items.spec", "/api/v1/stream/applications?name=payments",
				"/api/v1/stream/applications?name=payments&fields=result.application.spec",
			} {
				if got := automatedJSON(t, e.rest("GET", path, "")); got != wantOff {
					t.Errorf("GET %s: automated %s, want %s", path, got, wantOff)
				}
			}
			if got := automatedJSON(t, sse(t, "http://"+e.addr+"/api/v1/stream/applications?name=payments")); got != wantOff {
				t.Errorf("server-sent events: automated %s, want %s", got, wantOff)
			}
			if !e.v31 {
				code, b := restCall(t, "POST", "http://"+e.addr+"/api/v1/applications/payments/rollback", `{"id":4}`, false)
				if code != 400 || !strings.Contains(string(b), "rollback cannot be initiated when auto-sync is enabled") {
					t.Fatalf("REST rollback under auto-sync: %d %s", code, b)
				}
				app := e.rest("GET", "/api/v1/applications/payments", "")
				body = e.rest("PUT", "/api/v1/applications/payments", strings.Replace(app, plain, off, 1))
				if got := automatedJSON(t, body); got != plain {
					t.Fatalf("PUT with enabled answers automated %s, want %s", got, plain)
				}
				e.wantRollback(false)
				return
			}
			body = e.rest("POST", "/api/v1/applications/payments/rollback", `{"id":4,"dryRun":true}`)
			if got := automatedJSON(t, body); got != off {
				t.Fatalf("rollback answers automated %s, want %s", got, off)
			}

			// PUT bodies: enabled true turns auto-sync back on.
			app := e.rest("GET", "/api/v1/applications/payments", "")
			body = e.rest("PUT", "/api/v1/applications/payments", strings.Replace(app, off, `{"prune":true,"selfHeal":true,"enabled":true}`, 1))
			if got := automatedJSON(t, body); got != `{"prune":true,"selfHeal":true,"enabled":true}` {
				t.Fatalf("PUT answers automated %s", got)
			}
			e.wantRollback(false)
			spec := `{"source":{"repoURL":"https://github.com/deploybot-demo/payments.git","path":"charts/payments","targetRevision":"HEAD"},` +
				`"destination":{"server":"https://kubernetes.default.svc","namespace":"payments"},"project":"payments",` +
				`"syncPolicy":{"automated":{"prune":true,"enabled":false}}}`
			body = e.rest("PUT", "/api/v1/applications/payments/spec", spec)
			if got := automatedJSON(t, body); got != `{"prune":true,"enabled":false}` {
				t.Fatalf("PUT spec answers automated %s", got)
			}
			e.wantRollback(true)
		})
	}
}

// sse returns the first event of a REST stream read as server-sent events.
func sse(t *testing.T, target string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading %s: %v", target, err)
		}
		if strings.HasPrefix(line, "data: ") {
			return line
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
