package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/temporaldev"
	"github.com/deploybot/deploybot/internal/testenv"
)

// One Temporal dev server serves the whole package: starting one takes
// seconds, and tests stay apart by using their own task queue, apps and
// request ids.
var shared struct {
	once sync.Once
	srv  *temporaldev.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		_ = shared.srv.Stop(context.Background())
	}
	os.Exit(code)
}

// temporalServer returns the package's dev server (testenv's rules: the
// pinned CLI, a skip on laptops without it, a failure in CI).
func temporalServer(t testing.TB) *temporaldev.Server {
	t.Helper()
	bin := testenv.TemporalCLI(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.srv, shared.err = temporaldev.Start(ctx, temporaldev.Options{Binary: bin, UIPort: -1})
	})
	if shared.err != nil {
		t.Fatalf("start Temporal dev server: %v", shared.err)
	}
	return shared.srv
}

func temporalClient(t testing.TB) client.Client {
	t.Helper()
	srv := temporalServer(t)
	c, err := client.Dial(client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// downTemporalClient is a lazy client to a port nobody listens on.
func downTemporalClient(t testing.TB) client.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := client.NewLazyClient(client.Options{HostPort: addr, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

const (
	testSecret  = "8f742231b10e8888abcd99yyyzzz85a5"
	testToken   = "xoxb-gateway-test"
	testChannel = "C0DEPLOYS"
	botID       = "U0DEPLOYBOT"
	alice       = "U0ALICE"
	bob         = "U0BOB"
	mallory     = "U0MALLORY"
	testUIURL   = "http://temporal-ui.test"
)

var seq atomic.Int64

// uniq returns a name no other test uses, e.g. for event ids.
func uniq(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// harness is a gateway on a real listener, talking to a real Temporal dev
// server (or a dead one) and to the in-memory Slack Web API.
type harness struct {
	t         testing.TB
	tc        client.Client
	slack     *slackapi.Server
	gw        *gateway.Server
	url       string
	cfg       *config.Config
	reg       *prometheus.Registry
	logs      *testenv.SyncBuffer
	responses *responseSink
}

type harnessOpt func(*config.Config, *gateway.Options)

func newHarness(t testing.TB, tc client.Client, opts ...harnessOpt) *harness {
	t.Helper()
	sl := slackapi.StartTest(t, slackapi.Options{
		Token: testToken,
		Users: []slackapi.User{
			{ID: alice, Name: "alice"}, {ID: bob, Name: "bob"}, {ID: mallory, Name: "mallory"},
			{ID: botID, Name: "deploybot", IsBot: true},
		},
		Channels: []slackapi.Channel{{ID: testChannel, Name: "deploys"}},
	})
	cfg := config.Default()
	cfg.SigningSecret = testSecret
	cfg.SlackToken = testToken
	cfg.SlackAPIURL = sl.URL() + "/api/"
	cfg.AllowedUsers = []string{alice, bob}
	cfg.Approvers = []string{bob}
	cfg.TemporalUIURL = testUIURL
	cfg.TemporalTaskQueue = uniq("gw-test-")
	cfg.RollbackTableFields = []string{"image.tag", "replicaCount"}
	h := &harness{t: t, tc: tc, slack: sl, cfg: cfg, reg: prometheus.NewRegistry(), logs: &testenv.SyncBuffer{}, responses: newResponseSink(t)}
	gopts := gateway.Options{
		Temporal: tc, Config: cfg, Registry: h.reg,
		Logger:  slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Replier: gateway.NewSlackReplier(testToken, cfg.SlackAPIURL),
	}
	for _, o := range opts {
		o(cfg, &gopts)
	}
	gw, err := gateway.New(gopts)
	if err != nil {
		t.Fatal(err)
	}
	h.gw = gw
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Serve(ctx, l, gw, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	h.url = "http://" + l.Addr().String()
	return h
}

// settle waits until every reply the gateway queued has been sent.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := h.gw.Wait(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// slackSign is Slack's request signature, computed here independently of
// the gateway's code.
func slackSign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// signed returns the headers Slack would send with body now.
func signed(body []byte) http.Header {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return http.Header{
		"X-Slack-Request-Timestamp": {ts},
		"X-Slack-Signature":         {slackSign(testSecret, ts, body)},
	}
}

type response struct {
	code int
	body string
}

func (h *harness) post(path, contentType string, body []byte, hdr http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: string(b)}
}

// postEvent sends an Events API body signed now, with extra headers.
func (h *harness) postEvent(body []byte, extra ...string) response {
	h.t.Helper()
	hdr := signed(body)
	for i := 0; i+1 < len(extra); i += 2 {
		hdr.Set(extra[i], extra[i+1])
	}
	return h.post("/slack/events", "application/json", body, hdr)
}

// say records a message by user in the channel, as if typed in Slack, and
// returns its ts.
func (h *harness) say(user, text string) string {
	h.t.Helper()
	m, err := h.slack.PostUserMessage(testChannel, user, "", text)
	if err != nil {
		h.t.Fatal(err)
	}
	return m.TS
}

// mention is an app_mention event for a message user typed; ts is the
// message's ts.
type mention struct {
	eventID, user, text, ts, threadTS string
}

func (m mention) body() []byte {
	ev := map[string]any{
		"type": "app_mention", "user": m.user, "text": m.text, "ts": m.ts, "channel": testChannel,
		"event_ts": m.ts,
	}
	if m.threadTS != "" {
		ev["thread_ts"] = m.threadTS
	}
	b, _ := json.Marshal(map[string]any{
		"token": "unused", "team_id": "T0DEPLOYBOT", "api_app_id": "A0DEPLOYBOT",
		"type": "event_callback", "event_id": m.eventID, "event_time": time.Now().Unix(),
		"event": ev, "authorizations": []map[string]any{{"user_id": botID, "is_bot": true}},
	})
	return b
}

// mention posts "@deploybot text" from user in the channel and delivers the
// event to the gateway; it returns the event and the ack.
func (h *harness) mention(user, text string) (mention, response) {
	h.t.Helper()
	full := "<@" + botID + "> " + text
	m := mention{eventID: uniq("Ev"), user: user, text: full, ts: h.say(user, full)}
	return m, h.postEvent(m.body())
}

// slash sends the /deploy slash command as Slack does (form-encoded) and
// returns its trigger_id and the ack.
func (h *harness) slash(user, text string) (string, response) {
	h.t.Helper()
	trigger := uniq("13345224609.738474920.")
	form := url.Values{
		"token": {"unused"}, "team_id": {"T0DEPLOYBOT"}, "team_domain": {"deploybot"},
		"channel_id": {testChannel}, "channel_name": {"deploys"},
		"user_id": {user}, "user_name": {userName(user)}, "command": {"/deploy"}, "text": {text},
		"response_url": {h.responses.url + "/commands/" + trigger}, "trigger_id": {trigger}, "api_app_id": {"A0DEPLOYBOT"},
	}
	body := []byte(form.Encode())
	return trigger, h.post("/slack/commands", "application/x-www-form-urlencoded", body, signed(body))
}

func userName(id string) string {
	return map[string]string{alice: "alice", bob: "bob", mallory: "mallory"}[id]
}

// thread returns the replies in the thread of ts (ephemeral ones included),
// without the asking message.
func (h *harness) thread(ts string) []slackapi.Message {
	msgs := h.slack.Thread(testChannel, ts)
	if len(msgs) == 0 {
		return nil
	}
	return msgs[1:]
}

// describe returns the latest run of id, or fails.
func (h *harness) describe(id string) gateway.RunInfo {
	h.t.Helper()
	st := &gateway.TemporalStarter{Client: h.tc}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := st.DescribeRun(ctx, id, "")
	if err != nil {
		h.t.Fatalf("describe %s: %v", id, err)
	}
	return info
}

// userMetadata is what the Temporal UI shows of the latest run of id: its
// static summary and details.
func (h *harness) userMetadata(id string) (summary, details string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := h.tc.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		h.t.Fatalf("describe %s: %v", id, err)
	}
	md := resp.GetExecutionConfig().GetUserMetadata()
	dc := converter.GetDefaultDataConverter()
	if p := md.GetSummary(); p != nil {
		if err := dc.FromPayload(p, &summary); err != nil {
			h.t.Fatalf("summary of %s: %v", id, err)
		}
	}
	if p := md.GetDetails(); p != nil {
		if err := dc.FromPayload(p, &details); err != nil {
			h.t.Fatalf("details of %s: %v", id, err)
		}
	}
	return summary, details
}

// exists reports whether workflow id has any run.
func (h *harness) exists(id string) bool {
	h.t.Helper()
	st := &gateway.TemporalStarter{Client: h.tc}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := st.DescribeRun(ctx, id, "")
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		h.t.Fatalf("describe %s: %v", id, err)
	}
	return err == nil
}

// input decodes the input of the latest run of id into v and returns its
// task queue.
func (h *harness) input(id string, v any) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	it := h.tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := it.Next()
	if err != nil {
		h.t.Fatalf("history of %s: %v", id, err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		h.t.Fatalf("first event of %s is %v", id, ev.GetEventType())
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), v); err != nil {
		h.t.Fatal(err)
	}
	return attrs.GetTaskQueue().GetName()
}

// runs counts the runs of workflow id that Temporal's visibility knows,
// waiting for at least one to show.
func (h *harness) runs(id string) int {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := h.tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", id)})
		cancel()
		if err != nil {
			h.t.Fatal(err)
		}
		if resp.GetCount() > 0 || time.Now().After(deadline) {
			return int(resp.GetCount())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counter reads a counter of the gateway's registry.
func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// startWorker runs a worker on the harness's task queue with fake
// workflows registered under the contract's names: DeployWorkflow waits for
// a decision and returns it; the read-only ones return at once.
func (h *harness) startWorker() {
	h.t.Helper()
	w := sdkworker.New(h.tc, h.cfg.TemporalTaskQueue, sdkworker.Options{})
	for _, name := range command.Workflows() {
		fake := any(fakeCommand)
		if name == contract.WorkflowDeploy {
			fake = fakeDeploy
		}
		w.RegisterWorkflowWithOptions(fake, workflow.RegisterOptions{Name: name})
	}
	if err := w.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.Stop)
}

// fakeDeploy stands in for DeployWorkflow: it waits for one decision,
// records the outcome as the real one does, and returns the decision.
func fakeDeploy(ctx workflow.Context, in contract.DeployInput) (contract.Decision, error) {
	var d contract.Decision
	workflow.GetSignalChannel(ctx, contract.SignalDecision).Receive(ctx, &d)
	outcome := contract.OutcomeRejected
	if d.Approve {
		outcome = contract.OutcomeSucceeded
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, contract.SearchAttrDeployOutcome.ValueSet(string(outcome)))
	return d, nil
}

func fakeCommand(ctx workflow.Context, in contract.CommandInput) error { return nil }

// result waits for the latest run of id to end and decodes its result.
func (h *harness) result(id string, v any) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := h.tc.GetWorkflow(ctx, id, "").Get(ctx, v); err != nil {
		h.t.Fatalf("result of %s: %v", id, err)
	}
}

// responseSink records what is posted to slash commands' response_urls.
type responseSink struct {
	url  string
	mu   sync.Mutex
	got  map[string][]map[string]any // path → bodies
	hits atomic.Int64
	// fail answers the next posts with 429 and Retry-After: 1 while > 0.
	fail atomic.Int64
}

// rateLimitNext makes the next n posts answer 429 with Retry-After: 1.
func (s *responseSink) rateLimitNext(n int) { s.fail.Store(int64(n)) }

func newResponseSink(t testing.TB) *responseSink {
	s := &responseSink{got: map[string][]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.fail.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "rate limited", http.StatusTooManyRequests)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		s.mu.Lock()
		s.got[r.URL.Path] = append(s.got[r.URL.Path], body)
		s.mu.Unlock()
		s.hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// texts returns the texts posted to the response_url of trigger.
func (s *responseSink) texts(trigger string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.got["/commands/"+trigger] {
		out = append(out, fmt.Sprint(b["text"]))
		if b["response_type"] != "ephemeral" {
			out = append(out, "NOT EPHEMERAL")
		}
	}
	return out
}

// logLines returns the log lines in s matching every pattern.
func logLines(s *testenv.SyncBuffer, patterns ...string) []string {
	var out []string
	for _, line := range strings.Split(s.String(), "\n") {
		ok := line != ""
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(line) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}
