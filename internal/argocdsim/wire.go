package argocdsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"weak"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	grpcutil "github.com/argoproj/argo-cd/v2/util/grpc"

	"github.com/deploybot/deploybot/internal/argowire"
)

// Argo CD 3.1's spec.syncPolicy.automated.enabled (SyncPolicyAutomated field
// 4, JSON "enabled") has no place in the v2 Go types the simulator is built
// on: they drop it when decoding and never encode it. In 3.1 mode the
// simulator keeps it per app (simApp.enabled) and carries it around the
// types:
//
//   - gRPC and gRPC-Web: the server's codec reads field 4 of Update and
//     UpdateSpec requests and writes it into every message that carries an
//     app (Application, ApplicationList, ApplicationWatchEvent,
//     ApplicationSpec), with argowire.
//   - REST: the gateway reaches the gRPC server over a connection of its
//     own; its codec reads field 4 of the answers and writes it into the
//     requests. The gateway's JSON marshaler reads "enabled" from bodies,
//     and restWriter writes it into the JSON answers.
//
// In between, the value travels next to the Go message in a sideTable.

// sideTable attaches values to messages by address for as long as a message
// lives: an entry goes when its message is garbage collected, so a message
// that is never encoded (a request refused early) leaves nothing behind.
type sideTable struct{ m sync.Map }

// sidePut attaches v to the message at p.
func sidePut[T any](t *sideTable, p *T, v []*bool) {
	k := weak.Make(p)
	t.m.Store(k, v)
	runtime.AddCleanup(p, func(k weak.Pointer[T]) { t.m.Delete(k) }, k)
}

// sideGet returns what is attached to the message at p.
func sideGet[T any](t *sideTable, p *T) ([]*bool, bool) {
	v, ok := t.m.Load(weak.Make(p))
	if !ok {
		return nil, false
	}
	return v.([]*bool), true
}

// hasAutomated reports whether spec has an automated sync policy.
func hasAutomated(spec *v1alpha1.ApplicationSpec) bool {
	return spec.SyncPolicy != nil && spec.SyncPolicy.Automated != nil
}

// autoSyncOnLocked mirrors SyncPolicy.IsAutomatedSyncEnabled of the
// simulated release: from 3.1 an automated policy with enabled false is off.
func (s *Server) autoSyncOnLocked(sa *simApp) bool {
	return hasAutomated(&sa.app.Spec) && (sa.enabled == nil || *sa.enabled)
}

// keepsEnabled reports whether the simulated release knows automated.enabled.
func (s *Server) keepsEnabled() bool { return s.version.HasAutoSyncEnabled() }

// attachLocked records sa's enabled next to app, the copy of sa an answer
// carries, for the codec to write (3.1; nothing to write when unset).
func (s *Server) attachLocked(sa *simApp, app *v1alpha1.Application) {
	if s.keepsEnabled() && sa.enabled != nil && hasAutomated(&app.Spec) {
		sidePut(&s.side, app, []*bool{sa.enabled})
	}
}

// attachEventLocked records sa's enabled next to a watch event of it.
func (s *Server) attachEventLocked(sa *simApp, ev *v1alpha1.ApplicationWatchEvent) {
	if s.keepsEnabled() && sa.enabled != nil && hasAutomated(&ev.Application.Spec) {
		sidePut(&s.side, ev, []*bool{sa.enabled})
	}
}

// attachSpecLocked records sa's enabled next to a copy of its spec.
func (s *Server) attachSpecLocked(sa *simApp, spec *v1alpha1.ApplicationSpec) {
	if s.keepsEnabled() && sa.enabled != nil && hasAutomated(spec) {
		sidePut(&s.side, spec, []*bool{sa.enabled})
	}
}

// attachListLocked records the enabled of each listed app that has an
// automated policy, in list order (the order argowire visits them).
func (s *Server) attachListLocked(list *v1alpha1.ApplicationList, from []*simApp) {
	if !s.keepsEnabled() {
		return
	}
	var vals []*bool
	set := false
	for i := range list.Items {
		if hasAutomated(&list.Items[i].Spec) {
			vals = append(vals, from[i].enabled)
			set = set || from[i].enabled != nil
		}
	}
	if set {
		sidePut(&s.side, list, vals)
	}
}

// outgoingPath returns where in the encoding of v the automated policies
// are whose enabled is attached to v, if any is.
func (s *Server) outgoingPath(v any) (argowire.Path, []*bool) {
	var vals []*bool
	var ok bool
	var path argowire.Path
	switch m := v.(type) {
	case *v1alpha1.Application:
		vals, ok = sideGet(&s.side, m)
		path = argowire.ApplicationAutomated
	case *v1alpha1.ApplicationList:
		vals, ok = sideGet(&s.side, m)
		path = argowire.ListAutomated
	case *v1alpha1.ApplicationWatchEvent:
		vals, ok = sideGet(&s.side, m)
		path = argowire.WatchEventAutomated
	case *v1alpha1.ApplicationSpec:
		vals, ok = sideGet(&s.side, m)
		path = argowire.SpecAutomated
	}
	if !ok {
		return nil, nil
	}
	return path, vals
}

// writeEnabled writes vals into the automated policies at path in b, in
// order; a nil value writes nothing.
func writeEnabled(b []byte, path argowire.Path, vals []*bool) ([]byte, error) {
	return argowire.Rewrite(b, path, func(i int, cur argowire.Automated) *bool {
		if i < len(vals) && vals[i] != nil {
			return vals[i]
		}
		return cur.Enabled
	})
}

// serverCodec is the gRPC server's codec in 3.1 mode.
func (s *Server) serverCodec() *argowire.Codec {
	return &argowire.Codec{
		Encoded: func(v any, b []byte) ([]byte, error) {
			path, vals := s.outgoingPath(v)
			if path == nil {
				return b, nil
			}
			return writeEnabled(b, path, vals)
		},
		Decoded: func(v any, b []byte) error {
			var path argowire.Path
			switch v.(type) {
			case *applicationpkg.ApplicationUpdateRequest:
				path = argowire.UpdateAutomated
			case *applicationpkg.ApplicationUpdateSpecRequest:
				path = argowire.UpdateSpecAutomated
			default:
				return nil
			}
			found, err := argowire.Find(b, path)
			if err != nil || len(found) == 0 {
				return err
			}
			switch m := v.(type) {
			case *applicationpkg.ApplicationUpdateRequest:
				sidePut(&s.side, m, []*bool{found[0].Enabled})
			case *applicationpkg.ApplicationUpdateSpecRequest:
				sidePut(&s.side, m, []*bool{found[0].Enabled})
			}
			return nil
		},
	}
}

// requestEnabled is the automated.enabled a request carried on the wire
// (3.1; nil when absent or in older modes).
func requestEnabled[T any](s *Server, req *T) *bool {
	if vals, ok := sideGet(&s.side, req); ok && len(vals) == 1 {
		return vals[0]
	}
	return nil
}

// gatewayCodec is the codec of the REST gateway's connection to the gRPC
// server in 3.1 mode: it writes the enabled the JSON bodies had into the
// requests and keeps the enabled of the answers for the JSON marshaler.
func (s *Server) gatewayCodec() *argowire.Codec {
	return &argowire.Codec{
		Encoded: func(v any, b []byte) ([]byte, error) {
			switch m := v.(type) {
			case *applicationpkg.ApplicationUpdateRequest:
				if m.Application != nil {
					if vals, ok := sideGet(&s.side, m.Application); ok {
						return writeEnabled(b, argowire.UpdateAutomated, vals)
					}
				}
			case *applicationpkg.ApplicationUpdateSpecRequest:
				if m.Spec != nil {
					if vals, ok := sideGet(&s.side, m.Spec); ok {
						return writeEnabled(b, argowire.UpdateSpecAutomated, vals)
					}
				}
			}
			return b, nil
		},
		Decoded: func(v any, b []byte) error {
			keep := func(path argowire.Path, put func([]*bool)) error {
				found, err := argowire.Find(b, path)
				if err != nil {
					return err
				}
				vals := make([]*bool, len(found))
				set := false
				for i, a := range found {
					vals[i], set = a.Enabled, set || a.Enabled != nil
				}
				if set {
					put(vals)
				}
				return nil
			}
			switch m := v.(type) {
			case *v1alpha1.Application:
				return keep(argowire.ApplicationAutomated, func(vals []*bool) { sidePut(&s.side, m, vals) })
			case *v1alpha1.ApplicationList:
				return keep(argowire.ListAutomated, func(vals []*bool) { sidePut(&s.side, m, vals) })
			case *v1alpha1.ApplicationWatchEvent:
				return keep(argowire.WatchEventAutomated, func(vals []*bool) { sidePut(&s.side, m, vals) })
			case *v1alpha1.ApplicationSpec:
				return keep(argowire.SpecAutomated, func(vals []*bool) { sidePut(&s.side, m, vals) })
			}
			return nil
		},
	}
}

// JSON paths to the automated policy, as argo-cd's types name the fields;
// "[]" is every element of an array.
var (
	jsonAppAutomated    = []string{"spec", "syncPolicy", "automated"}
	jsonSpecAutomated   = []string{"syncPolicy", "automated"}
	jsonListAutomated   = append([]string{"items", "[]"}, jsonAppAutomated...)
	jsonResultAutomated = append([]string{"result", "application"}, jsonAppAutomated...)
)

// restMarshaler is argocd-server's JSON marshaler, which in 3.1 mode also
// reads "enabled" from request bodies. Answers do not all pass through it
// (argo-cd's List and Watch forwarders marshal on their own), so "enabled"
// is written into them by restWriter.
type restMarshaler struct {
	grpcutil.JSONMarshaler
	s *Server
}

// NewDecoder reads a request body as argo-cd's marshaler does and keeps
// the enabled of an Application's or ApplicationSpec's automated policy for
// the gateway's codec to send.
func (m *restMarshaler) NewDecoder(r io.Reader) gwruntime.Decoder {
	return gwruntime.DecoderFunc(func(v any) error {
		var raw json.RawMessage
		if err := json.NewDecoder(r).Decode(&raw); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return err
		}
		switch target := v.(type) {
		case **v1alpha1.Application:
			var body struct {
				Spec jsonSpec `json:"spec"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				return err
			}
			if body.Spec.hasAutomated() && *target != nil {
				sidePut(&m.s.side, *target, []*bool{body.Spec.SyncPolicy.Automated.Enabled})
			}
		case **v1alpha1.ApplicationSpec:
			var spec jsonSpec
			if err := json.Unmarshal(raw, &spec); err != nil {
				return err
			}
			if spec.hasAutomated() && *target != nil {
				sidePut(&m.s.side, *target, []*bool{spec.SyncPolicy.Automated.Enabled})
			}
		}
		return nil
	})
}

// restCapture collects, for one REST request, the enabled values the gRPC
// answers behind it carried, for restWriter to write into the JSON.
type restCapture struct {
	mu     sync.Mutex
	path   []string // JSON path of the unary answer's automated policies
	vals   []*bool
	stream bool
	events []capturedEvent // stream messages received, oldest first
}

// capturedEvent is one watch event's app and its enabled.
type capturedEvent struct {
	id      appVersion
	enabled *bool
}

// appVersion names an app as it was: namespace, name, resourceVersion.
type appVersion struct{ namespace, name, resourceVersion string }

type restCaptureKey struct{}

// gatewayUnary records the enabled of a unary answer to a REST request.
func (s *Server) gatewayUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	c, ok := ctx.Value(restCaptureKey{}).(*restCapture)
	if err != nil || !ok {
		return err
	}
	var path []string
	var vals []*bool
	var found bool
	switch m := reply.(type) {
	case *v1alpha1.Application:
		vals, found = sideGet(&s.side, m)
		path = jsonAppAutomated
	case *v1alpha1.ApplicationList:
		vals, found = sideGet(&s.side, m)
		path = jsonListAutomated
	case *v1alpha1.ApplicationSpec:
		vals, found = sideGet(&s.side, m)
		path = jsonSpecAutomated
	}
	if found {
		c.mu.Lock()
		c.path, c.vals = path, vals
		c.mu.Unlock()
	}
	return nil
}

// gatewayStream records the enabled of each watch event a REST stream gets.
func (s *Server) gatewayStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	c, ok := ctx.Value(restCaptureKey{}).(*restCapture)
	// Only Watch streams apps; PodLogs downloads are never flushed, so
	// they must not be held.
	if err != nil || !ok || method != "/application.ApplicationService/Watch" {
		return cs, err
	}
	c.mu.Lock()
	c.stream = true
	c.mu.Unlock()
	return &captureStream{ClientStream: cs, s: s, c: c}, nil
}

type captureStream struct {
	grpc.ClientStream
	s *Server
	c *restCapture
}

func (cs *captureStream) RecvMsg(m any) error {
	if err := cs.ClientStream.RecvMsg(m); err != nil {
		return err
	}
	if ev, ok := m.(*v1alpha1.ApplicationWatchEvent); ok {
		var enabled *bool
		if vals, ok := sideGet(&cs.s.side, ev); ok && len(vals) == 1 {
			enabled = vals[0]
		}
		a := &ev.Application
		cs.c.mu.Lock()
		cs.c.events = append(cs.c.events, capturedEvent{appVersion{a.Namespace, a.Name, a.ResourceVersion}, enabled})
		cs.c.mu.Unlock()
	}
	return nil
}

// next returns the enabled of the event chunk for id, dropping the events
// received before it that were never written (argo's Watch forwarder skips
// repeats); with no id (a fields filter left it out) the oldest event's.
func (c *restCapture) next(id *appVersion) *bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ev := range c.events {
		if id == nil || ev.id == *id {
			c.events = c.events[i+1:]
			return ev.enabled
		}
	}
	return nil
}

// serveREST serves a REST request through the gateway; in 3.1 mode its
// answers get "enabled" where the gRPC answers behind them had it.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	if !s.keepsEnabled() {
		s.gw.ServeHTTP(w, r)
		return
	}
	c := &restCapture{}
	rw := &restWriter{w: w, c: c}
	s.gw.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), restCaptureKey{}, c)))
	rw.finish()
}

// restWriter writes a REST answer, adding "enabled": a unary answer is
// held until the handler is done, a stream is edited chunk by chunk as the
// forwarder flushes each.
type restWriter struct {
	w       http.ResponseWriter
	c       *restCapture
	mu      sync.Mutex // argo's SSE keepalive writes from its own goroutine
	decided bool
	unary   bool // hold the whole body
	stream  bool // edit at each flush
	buf     bytes.Buffer
}

func (rw *restWriter) Header() http.Header { return rw.w.Header() }

func (rw *restWriter) WriteHeader(code int) { rw.w.WriteHeader(code) }

// decide chooses, at the first write, how the body is handled: the gRPC
// call behind it has answered by then.
func (rw *restWriter) decide() {
	if rw.decided {
		return
	}
	rw.decided = true
	rw.c.mu.Lock()
	rw.unary, rw.stream = rw.c.path != nil, rw.c.stream
	rw.c.mu.Unlock()
}

func (rw *restWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.decide()
	if rw.unary || rw.stream {
		return rw.buf.Write(p)
	}
	return rw.w.Write(p)
}

// Flush sends what the stream forwarder wrote since the last flush, with
// "enabled" written into its event.
func (rw *restWriter) Flush() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.stream && rw.buf.Len() > 0 {
		_, _ = rw.w.Write(rw.editChunk(rw.buf.Bytes()))
		rw.buf.Reset()
	}
	if f, ok := rw.w.(http.Flusher); ok {
		f.Flush()
	}
}

// finish sends a held unary body, with "enabled" written in.
func (rw *restWriter) finish() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.buf.Len() == 0 {
		return
	}
	body := rw.buf.Bytes()
	if rw.unary {
		rw.c.mu.Lock()
		path, vals := rw.c.path, rw.c.vals
		rw.c.mu.Unlock()
		if edited, err := setJSONEnabled(body, path, vals); err == nil {
			body = edited
		}
	} else {
		body = rw.editChunk(body)
	}
	_, _ = rw.w.Write(body)
}

// editChunk writes "enabled" into the watch events of a stream chunk:
// lines of {"result":{...}}, or "data: {...} " lines for server-sent events.
func (rw *restWriter) editChunk(chunk []byte) []byte {
	lines := bytes.Split(chunk, []byte("\n"))
	for i, line := range lines {
		prefix, doc, suffix := []byte(nil), line, []byte(nil)
		if rest, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			prefix, doc = []byte("data: "), rest
		}
		if trimmed := bytes.TrimRight(doc, " "); len(trimmed) < len(doc) {
			doc, suffix = trimmed, doc[len(trimmed):]
		}
		if !bytes.HasPrefix(doc, []byte(`{"result":`)) {
			continue
		}
		var ev struct {
			Result struct {
				Application *struct {
					Metadata struct {
						Namespace       string `json:"namespace"`
						Name            string `json:"name"`
						ResourceVersion string `json:"resourceVersion"`
					} `json:"metadata"`
				} `json:"application"`
			} `json:"result"`
		}
		if json.Unmarshal(doc, &ev) != nil || ev.Result.Application == nil {
			continue
		}
		var id *appVersion
		if md := ev.Result.Application.Metadata; md.Name != "" {
			id = &appVersion{md.Namespace, md.Name, md.ResourceVersion}
		}
		enabled := rw.c.next(id)
		if enabled == nil {
			continue
		}
		edited, err := setJSONEnabled(doc, jsonResultAutomated, []*bool{enabled})
		if err != nil {
			continue
		}
		lines[i] = append(append(append([]byte(nil), prefix...), edited...), suffix...)
	}
	return bytes.Join(lines, []byte("\n"))
}

// jsonSpec is the part of an ApplicationSpec's JSON the v2 types drop.
type jsonSpec struct {
	SyncPolicy *struct {
		Automated *struct {
			Enabled *bool `json:"enabled"`
		} `json:"automated"`
	} `json:"syncPolicy"`
}

func (j jsonSpec) hasAutomated() bool { return j.SyncPolicy != nil && j.SyncPolicy.Automated != nil }

// enabledOfAppJSON reads spec.syncPolicy.automated.enabled of an
// Application's JSON: whether automated is set, and enabled.
func enabledOfAppJSON(b []byte) (bool, *bool, error) {
	var app struct {
		Spec jsonSpec `json:"spec"`
	}
	if err := json.Unmarshal(b, &app); err != nil {
		return false, nil, err
	}
	if !app.Spec.hasAutomated() {
		return false, nil, nil
	}
	return true, app.Spec.SyncPolicy.Automated.Enabled, nil
}

// setJSONEnabled sets "enabled" in the objects at path in doc, the i-th
// found to vals[i] (nil leaves it as it is). Keys keep their order and
// "enabled" goes last, where a 3.1 server's field order puts it. A missing
// or null object on the way is skipped.
func setJSONEnabled(doc []byte, path []string, vals []*bool) ([]byte, error) {
	i := 0
	return editJSON(doc, path, func(obj []byte) ([]byte, error) {
		var v *bool
		if i < len(vals) {
			v = vals[i]
		}
		i++
		if v == nil {
			return obj, nil
		}
		pairs, err := jsonObject(obj)
		if err != nil {
			return nil, err
		}
		out := pairs[:0]
		for _, p := range pairs {
			if p.key != "enabled" {
				out = append(out, p)
			}
		}
		return encodeJSONObject(append(out, jsonPair{"enabled", json.RawMessage(fmt.Sprint(*v))}))
	})
}

// editJSON replaces each value at path in doc with f's result.
func editJSON(doc []byte, path []string, f func([]byte) ([]byte, error)) ([]byte, error) {
	if len(path) == 0 {
		return f(doc)
	}
	if bytes.Equal(bytes.TrimSpace(doc), []byte("null")) {
		return doc, nil
	}
	if path[0] == "[]" {
		var elems []json.RawMessage
		if err := json.Unmarshal(doc, &elems); err != nil {
			return nil, err
		}
		for i := range elems {
			e, err := editJSON(elems[i], path[1:], f)
			if err != nil {
				return nil, err
			}
			elems[i] = e
		}
		return json.Marshal(elems)
	}
	pairs, err := jsonObject(doc)
	if err != nil {
		return nil, err
	}
	for i := range pairs {
		if pairs[i].key == path[0] {
			v, err := editJSON(pairs[i].value, path[1:], f)
			if err != nil {
				return nil, err
			}
			pairs[i].value = v
			return encodeJSONObject(pairs)
		}
	}
	return doc, nil
}

type jsonPair struct {
	key   string
	value json.RawMessage
}

// jsonObject splits a JSON object into its members, in order.
func jsonObject(b []byte) ([]jsonPair, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("argocdsim: want a JSON object, got %.40q", b)
	}
	var pairs []jsonPair
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		pairs = append(pairs, jsonPair{tok.(string), v})
	}
	return pairs, nil
}

// encodeJSONObject joins members into a compact JSON object.
func encodeJSONObject(pairs []jsonPair) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(p.key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(p.value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
