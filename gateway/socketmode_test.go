package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackui"
)

// fakeSocketSlack plays Slack's side of Socket Mode: apps.connections.open
// hands out a WebSocket URL, and the test pushes envelopes down the socket
// and reads the acknowledgements, exactly as they travel on the wire.
type fakeSocketSlack struct {
	t     *testing.T
	url   string
	conns chan *websocket.Conn
}

func startFakeSocketSlack(t *testing.T) *fakeSocketSlack {
	f := &fakeSocketSlack{t: t, conns: make(chan *websocket.Conn, 1)}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // slack-go sends Origin: https://api.slack.com
	mux := http.NewServeMux()
	mux.HandleFunc("/api/apps.connections.open", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer xapp-test" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(f.url, "http") + "/link/?ticket=1"})
	})
	mux.HandleFunc("/link/", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		_ = c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]any{"app_id": "A0DEPLOYBOT"}})
		f.conns <- c
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// The same handlers serve Socket Mode: a mention, its retry, a slash
// command, a click and a refused request all behave as over HTTP, and
// every envelope is acknowledged by its envelope_id.
func TestSocketModeServesEventsCommandsAndClicks(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	h.startWorker()
	fake := startFakeSocketSlack(t)
	sm := gateway.NewSocketModeClient(testToken, "xapp-test", fake.url+"/api/")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.gw.RunSocketMode(ctx, sm) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunSocketMode: %v", err)
		}
	})
	var conn *websocket.Conn
	select {
	case conn = <-fake.conns:
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not connect")
	}
	t.Cleanup(func() { conn.Close() })

	var acksMu sync.Mutex
	acks := map[string]bool{}
	ackc := make(chan string, 16)
	go func() {
		for {
			var a struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if err := conn.ReadJSON(&a); err != nil {
				close(ackc)
				return
			}
			ackc <- a.EnvelopeID
		}
	}()
	// send writes one envelope and waits for its acknowledgement.
	send := func(envID, typ string, payload any, retry int) {
		t.Helper()
		raw, _ := json.Marshal(payload)
		if err := conn.WriteJSON(map[string]any{
			"envelope_id": envID, "type": typ, "payload": json.RawMessage(raw),
			"accepts_response_payload": typ != "events_api", "retry_attempt": retry, "retry_reason": map[bool]string{true: "timeout"}[retry > 0],
		}); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for {
			acksMu.Lock()
			got := acks[envID]
			acksMu.Unlock()
			if got {
				return
			}
			select {
			case id, ok := <-ackc:
				if !ok {
					t.Fatalf("socket closed before envelope %s was acknowledged", envID)
				}
				acksMu.Lock()
				acks[id] = true
				acksMu.Unlock()
			case <-deadline:
				t.Fatalf("envelope %s was not acknowledged", envID)
			}
		}
	}

	// A mention, then Slack's retry of it.
	app := uniq("socket")
	text := "<@" + botID + "> status " + app
	m := mention{eventID: uniq("Ev"), user: alice, text: text, ts: h.say(alice, text)}
	var event map[string]any
	_ = json.Unmarshal(m.body(), &event)
	send("env-mention", "events_api", event, 0)
	send("env-mention-retry", "events_api", event, 1)
	statusID := contract.CommandWorkflowID("status", m.eventID)
	if info := h.describe(statusID); info.Type != contract.WorkflowAppStatus || info.RequestID != m.eventID {
		t.Errorf("status run = %+v", info)
	}

	// The slash command, in Socket Mode's JSON form.
	trigger := uniq("998.877.")
	send("env-slash", "slash_commands", map[string]any{
		"token": "unused", "team_id": "T0DEPLOYBOT", "channel_id": testChannel, "channel_name": "deploys",
		"user_id": alice, "user_name": "alice", "command": "/deploy", "text": "sync " + app,
		"response_url": h.responses.url + "/commands/" + trigger, "trigger_id": trigger,
	}, 0)
	deployID := contract.DeployWorkflowID(app)
	var in contract.DeployInput
	h.input(deployID, &in)
	if in.Request.Action != contract.ActionSync || in.Request.RequestedBy != (contract.User{ID: alice, Name: "alice"}) || in.Request.ResponseURL == "" {
		t.Errorf("deploy input = %+v", in.Request)
	}

	// Bob approves.
	ts, blocks := h.requestMessage(deployID)
	var click map[string]any
	_ = json.Unmarshal(clickPayload(bob, slackui.ActionApprove, deployID, ts, blocks), &click)
	send("env-click", "interactive", click, 0)
	var d contract.Decision
	h.result(deployID, &d)
	if d != (contract.Decision{Approve: true, User: contract.User{ID: bob, Name: "bob"}, Source: "slack", MessageTS: ts}) {
		t.Errorf("decision = %+v", d)
	}

	// Mallory is refused in the thread, as over HTTP.
	text = "<@" + botID + "> sync " + app
	mm := mention{eventID: uniq("Ev"), user: mallory, text: text, ts: h.say(mallory, text)}
	_ = json.Unmarshal(mm.body(), &event)
	send("env-mallory", "events_api", event, 0)

	h.settle()
	if th := h.thread(mm.ts); len(th) != 1 || !strings.Contains(th[0].Text, "not allowed") {
		t.Errorf("refusal over Socket Mode = %+v", th)
	}
	if th := h.thread(m.ts); len(th) != 0 {
		t.Errorf("replies to a started status: %+v", th)
	}
	for route, want := range map[string]float64{
		"socketmode/events_api": 3, "socketmode/slash_commands": 1, "socketmode/interactive": 1,
	} {
		if got := h.counter("deploybot_gateway_requests_total", "route", route, "code", "ack"); got != want {
			t.Errorf("requests_total{route=%q,code=ack} = %v, want %v", route, got, want)
		}
	}
	if got := h.counter("deploybot_gateway_requests_total", "route", "socketmode/events_api", "outcome", "duplicate"); got != 1 {
		t.Errorf("the retried envelope was not a duplicate: %v", got)
	}
	if got := h.counter("deploybot_gateway_workflows_started_total"); got != 2 {
		t.Errorf("workflows_started_total = %v, want 2", got)
	}
}

// A refused app-level token ends RunSocketMode with an error (and a log
// line saying what to fix) instead of spinning.
func TestSocketModeWithABadAppTokenFails(t *testing.T) {
	h := newHarness(t, temporalClient(t))
	fake := startFakeSocketSlack(t)
	sm := gateway.NewSocketModeClient(testToken, "xapp-wrong", fake.url+"/api/")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := h.gw.RunSocketMode(ctx, sm)
	if err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("RunSocketMode with a bad token = %v, want an invalid_auth error", err)
	}
}
