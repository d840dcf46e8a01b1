package argocdsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/argoproj/gitops-engine/pkg/health"
	synccommon "github.com/argoproj/gitops-engine/pkg/sync/common"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
)

// Stats is a snapshot of call counters: method -> app -> calls. An app is
// its name in the argocd namespace and "namespace/name" elsewhere
// ("team-a/guestbook"). Calls that name no app (List, Version, ...) are
// counted under app "".
type Stats struct {
	Calls map[string]map[string]int `json:"calls"`
}

// Outcome decides how every later operation of an app ends: the operation
// phase when the operation finishes and the app health when it settles.
// Empty fields mean Succeeded and Healthy.
type Outcome struct {
	Phase   synccommon.OperationPhase `json:"phase,omitempty"`
	Health  health.HealthStatusCode   `json:"health,omitempty"`
	Message string                    `json:"message,omitempty"`
}

// FailRule makes the next Count calls of Method fail with Code.
type FailRule struct {
	Method string `json:"method"`
	Count  int    `json:"count"`
	Code   Code   `json:"code"`
}

// Code is a gRPC code that reads and writes JSON as its name ("Unavailable")
// and also reads numbers (14) and upper-case names ("UNAVAILABLE").
type Code codes.Code

// MarshalJSON writes the code's name.
func (c Code) MarshalJSON() ([]byte, error) { return json.Marshal(codes.Code(c).String()) }

// UnmarshalJSON accepts a number or a case-insensitive code name.
func (c *Code) UnmarshalJSON(b []byte) error {
	var n uint32
	if err := json.Unmarshal(b, &n); err == nil {
		if n > uint32(codes.Unauthenticated) {
			return fmt.Errorf("unknown gRPC code %d", n)
		}
		*c = Code(n)
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("gRPC code must be a name or a number: %s", b)
	}
	want := strings.ReplaceAll(strings.ToLower(name), "_", "")
	for i := codes.OK; i <= codes.Unauthenticated; i++ {
		if strings.ToLower(i.String()) == want {
			*c = Code(i)
			return nil
		}
	}
	return fmt.Errorf("unknown gRPC code %q", name)
}

// Duration is a time.Duration that reads JSON strings ("250ms") or numbers
// (milliseconds) and writes strings.
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts "1.5s"-style strings or milliseconds as a number.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err == nil {
		*d = Duration(ms * float64(time.Millisecond))
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\" or milliseconds: %s", b)
	}
	v, err := time.ParseDuration(str)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// FailRules is a list of FailRule; in JSON a single object is accepted too.
type FailRules []FailRule

// UnmarshalJSON accepts an array of rules or one rule object.
func (r *FailRules) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var one FailRule
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*r = FailRules{one}
		return nil
	}
	var many []FailRule
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*r = many
	return nil
}

// Faults is the body of POST /sim/faults and the answer of GET /sim/faults.
// In a POST every field is optional and only the given ones change:
//
//	{
//	  "clear":    true,                       // first drop all faults (not outcomes)
//	  "latency":  {"Sync": "1.5s", "*": 200}, // per method, string or ms; "0s" removes; "*" = every method
//	  "failNext": [{"method": "Sync", "count": 2, "code": "Unavailable"}], // or one object; count 0 removes
//	  "down":     true,                       // every API call answers Unavailable
//	  "outcomes": {"guestbook": {"phase": "Failed", "health": "Degraded", "message": "..."}}
//	}
//
// Method names are gRPC method names of ApplicationService (Sync, Rollback,
// Get, List, Patch, PodLogs, ResourceTree, Watch, ...) and of RepositoryService
// (GetAppDetails, ...); other services are "Service.Method", e.g.
// "VersionService.Version", "ProjectService.Get", "RepositoryService.List".
// Codes are names ("Unavailable", "FAILED_PRECONDITION") or numbers (14).
type Faults struct {
	Clear    bool                `json:"clear,omitempty"`
	Latency  map[string]Duration `json:"latency,omitempty"`
	FailNext FailRules           `json:"failNext,omitempty"`
	Down     *bool               `json:"down,omitempty"`
	Outcomes map[string]Outcome  `json:"outcomes,omitempty"`
}

type faultState struct {
	mu       sync.Mutex
	latency  map[string]time.Duration
	failNext map[string]FailRule
	down     bool
	calls    map[string]map[string]int
}

func (f *faultState) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = map[string]time.Duration{}
	f.failNext = map[string]FailRule{}
	f.down = false
	f.calls = map[string]map[string]int{}
}

// SetLatency adds d before every call of method ("*" = all methods); d <= 0 removes it.
func (s *Server) SetLatency(method string, d time.Duration) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if d <= 0 {
		delete(s.faults.latency, method)
		return
	}
	s.faults.latency[method] = d
}

// FailNext makes the next n calls of method ("*" = any method) fail with
// code, replacing an earlier rule for that method; n <= 0 removes the rule.
func (s *Server) FailNext(method string, n int, code codes.Code) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if n <= 0 {
		delete(s.faults.failNext, method)
		return
	}
	s.faults.failNext[method] = FailRule{Method: method, Count: n, Code: Code(code)}
}

// SetDown makes every API call (not the /sim admin API) answer Unavailable.
func (s *Server) SetDown(down bool) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.down = down
}

// Calls returns how many calls of method named app ("" = calls without an app).
func (s *Server) Calls(method, app string) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.calls[method][app]
}

// Stats returns a copy of all call counters.
func (s *Server) Stats() Stats {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := Stats{Calls: make(map[string]map[string]int, len(s.faults.calls))}
	for m, byApp := range s.faults.calls {
		c := make(map[string]int, len(byApp))
		for a, n := range byApp {
			c[a] = n
		}
		out.Calls[m] = c
	}
	return out
}

// CurrentFaults returns the active latency, fail-next rules, down flag and outcomes.
func (s *Server) CurrentFaults() Faults {
	s.faults.mu.Lock()
	f := Faults{Latency: map[string]Duration{}, FailNext: FailRules{}, Down: new(bool), Outcomes: map[string]Outcome{}}
	for m, d := range s.faults.latency {
		f.Latency[m] = Duration(d)
	}
	for _, r := range s.faults.failNext {
		f.FailNext = append(f.FailNext, r)
	}
	*f.Down = s.faults.down
	s.faults.mu.Unlock()
	sort.Slice(f.FailNext, func(i, j int) bool { return f.FailNext[i].Method < f.FailNext[j].Method })
	s.mu.Lock()
	for name, sa := range s.apps {
		if sa.outcome != (Outcome{}) {
			f.Outcomes[name] = sa.outcome
		}
	}
	s.mu.Unlock()
	return f
}

// ApplyFaults applies a Faults request (see Faults for the semantics).
func (s *Server) ApplyFaults(f Faults) error {
	for app, o := range f.Outcomes {
		if err := s.SetOutcome(app, o); err != nil {
			return err
		}
	}
	if f.Clear {
		s.faults.mu.Lock()
		s.faults.latency = map[string]time.Duration{}
		s.faults.failNext = map[string]FailRule{}
		s.faults.down = false
		s.faults.mu.Unlock()
	}
	for m, d := range f.Latency {
		s.SetLatency(m, time.Duration(d))
	}
	for _, r := range f.FailNext {
		if r.Method == "" {
			return fmt.Errorf("failNext: method is required")
		}
		s.FailNext(r.Method, r.Count, codes.Code(r.Code))
	}
	if f.Down != nil {
		s.SetDown(*f.Down)
	}
	return nil
}

// admit counts a call and applies injected latency and failures to it.
func (s *Server) admit(ctx context.Context, method, app string) error {
	f := &s.faults
	f.mu.Lock()
	if f.calls[method] == nil {
		f.calls[method] = map[string]int{}
	}
	f.calls[method][app]++
	delay := f.latency[method] + f.latency["*"]
	f.mu.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status.FromContextError(ctx.Err()).Err()
		case <-s.closing:
			t.Stop()
			return status.Error(codes.Unavailable, "argocd simulator is shutting down")
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return status.Error(codes.Unavailable, "argocd simulator is down (fault injection)")
	}
	for _, key := range []string{method, "*"} {
		if r, ok := f.failNext[key]; ok {
			r.Count--
			if r.Count <= 0 {
				delete(f.failNext, key)
			} else {
				f.failNext[key] = r
			}
			return status.Errorf(codes.Code(r.Code), "injected failure of %s (fault injection)", method)
		}
	}
	return nil
}

// noAuthMethods are public in Argo CD too (their AuthFuncOverride ignores errors).
var noAuthMethods = map[string]bool{
	"/version.VersionService/Version": true,
	"/cluster.SettingsService/Get":    true,
}

// authenticate accepts the token where argocd-server looks for it: the
// "token" metadata key (argo's own client), "Authorization: Bearer", and the
// argocd.token cookie forwarded by the REST gateway. It returns ctx with the
// claims of the token's account (see rbac.go); methods that need no token
// get them only if a valid one was sent.
func (s *Server) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	tok := tokenFrom(md)
	account := s.accountFor(tok)
	if account != "" {
		ctx = withClaims(ctx, s.claimsFor(account))
	}
	switch {
	case noAuthMethods[fullMethod]:
		return ctx, nil
	case tok == "":
		return ctx, status.Error(codes.Unauthenticated, "no session information")
	case account == "":
		return ctx, status.Error(codes.Unauthenticated, "invalid session: token signature is invalid")
	}
	return ctx, nil
}

func tokenFrom(md metadata.MD) string {
	if v := md.Get("token"); len(v) > 0 && v[0] != "" {
		return v[0]
	}
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok && t != "" {
			return t
		}
	}
	for _, v := range md.Get("grpcgateway-cookie") {
		r := http.Request{Header: http.Header{"Cookie": []string{v}}}
		if c, err := r.Cookie("argocd.token"); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// methodKeys maps full gRPC method names to counter/fault keys: bare names
// for ApplicationService, and for RepositoryService unless the name clashes.
func (s *Server) buildMethodKeys() map[string]string {
	info := s.grpc.GetServiceInfo()
	appMethods := map[string]bool{}
	for _, m := range info["application.ApplicationService"].Methods {
		appMethods[m.Name] = true
	}
	keys := map[string]string{}
	for svc, si := range info {
		short := svc[strings.LastIndex(svc, ".")+1:]
		for _, m := range si.Methods {
			key := short + "." + m.Name
			if svc == "application.ApplicationService" || (svc == "repository.RepositoryService" && !appMethods[m.Name]) {
				key = m.Name
			}
			keys["/"+svc+"/"+m.Name] = key
		}
	}
	return keys
}

func (s *Server) methodKey(full string) string {
	if k, ok := s.methodKeys[full]; ok {
		return k
	}
	return strings.TrimPrefix(full, "/")
}

// appOf is the counter key of the application a request is about: its
// key (name in argocd, "namespace/name" elsewhere; GetAppDetails's appName
// is qualified). A name as sent that has a "/" (no app's name has one) is
// counted as "namespace/name-as-sent", e.g. "argocd/team-a/guestbook", so it
// never shares a key with an app.
func appOf(fullMethod string, m any) string {
	var name, ns string
	switch r := m.(type) {
	case *applicationpkg.ResourcesQuery:
		name, ns = r.GetApplicationName(), r.GetAppNamespace()
	case *applicationpkg.ApplicationUpdateRequest:
		if a := r.GetApplication(); a != nil {
			name, ns = a.Name, a.Namespace
		}
	case *applicationpkg.ApplicationCreateRequest:
		if a := r.GetApplication(); a != nil {
			name, ns = a.Name, a.Namespace
		}
	case *repositorypkg.RepoAppDetailsQuery:
		if r.GetAppName() == "" {
			return ""
		}
		name, ns = splitName(r.GetAppName(), argocdNamespace)
	case interface{ GetName() string }:
		if !strings.HasPrefix(fullMethod, "/application.ApplicationService/") {
			return ""
		}
		name = r.GetName()
		if n, ok := m.(interface{ GetAppNamespace() string }); ok {
			ns = n.GetAppNamespace()
		}
	default:
		return ""
	}
	if name == "" {
		return ""
	}
	if strings.Contains(name, "/") {
		return firstNonEmpty(ns, argocdNamespace) + "/" + name
	}
	return appKey(ns, name)
}

// unescapeRepoURL mirrors argocd-server's bug21955WorkaroundInterceptor,
// which applies to gRPC and REST alike.
func unescapeRepoURL(m any) error {
	switch r := m.(type) {
	case *repositorypkg.RepoQuery:
		u, err := url.QueryUnescape(r.Repo)
		if err != nil {
			return err
		}
		r.Repo = u
	case *repositorypkg.RepoAppDetailsQuery:
		if r.Source != nil {
			u, err := url.QueryUnescape(r.Source.RepoURL)
			if err != nil {
				return err
			}
			r.Source.RepoURL = u
		}
	}
	return nil
}

// explainUnimplemented makes "not simulated" obvious to whoever hits it.
func explainUnimplemented(err error, fullMethod string) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented && strings.HasPrefix(st.Message(), "method ") {
		return status.Errorf(codes.Unimplemented, "%s is not simulated by the argocd simulator (%s)", fullMethod, st.Message())
	}
	return err
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := s.methodKey(info.FullMethod)
	start := time.Now()
	resp, err := s.unary(ctx, req, info, handler, method)
	s.log.Debug("grpc call", "method", method, "app", appOf(info.FullMethod, req), "code", status.Code(err).String(), "took", time.Since(start))
	return resp, err
}

func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler, method string) (any, error) {
	if err := unescapeRepoURL(req); err != nil {
		return nil, err
	}
	if err := s.admit(ctx, method, appOf(info.FullMethod, req)); err != nil {
		return nil, err
	}
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	if err == nil && s.opts.AfterCall != nil {
		s.opts.AfterCall(method, appOf(info.FullMethod, req))
	}
	return resp, explainUnimplemented(err, info.FullMethod)
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	w := &admitStream{ServerStream: ss, s: s, full: info.FullMethod, method: s.methodKey(info.FullMethod)}
	err := explainUnimplemented(handler(srv, w), info.FullMethod)
	s.log.Debug("grpc stream", "method", w.method, "app", w.app, "code", status.Code(err).String())
	return err
}

// admitStream applies faults and auth once the first request message is
// known, so streams are counted per app like unary calls. From then on its
// Context carries the caller's claims.
type admitStream struct {
	grpc.ServerStream
	s        *Server
	full     string
	method   string
	app      string
	admitted bool
	ctx      context.Context // with claims, once authenticated
}

func (w *admitStream) Context() context.Context {
	if w.ctx != nil {
		return w.ctx
	}
	return w.ServerStream.Context()
}

func (w *admitStream) RecvMsg(m any) error {
	if err := w.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if w.admitted {
		return nil
	}
	w.admitted = true
	w.app = appOf(w.full, m)
	if err := w.s.admit(w.Context(), w.method, w.app); err != nil {
		return err
	}
	ctx, err := w.s.authenticate(w.ServerStream.Context(), w.full)
	if err != nil {
		return err
	}
	w.ctx = ctx
	return nil
}

// adminHandler serves the /sim/ admin API. It needs no token: the simulator
// is a development tool and listens on loopback by default.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /sim/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.CurrentFaults())
	})
	mux.HandleFunc("POST /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid faults JSON: " + err.Error()})
			return
		}
		if err := s.ApplyFaults(f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s.CurrentFaults())
	})
	mux.HandleFunc("POST /sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]string{"status": "reset"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
