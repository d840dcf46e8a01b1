package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/gateway"
	"github.com/deploybot/deploybot/internal/config"
	"github.com/deploybot/deploybot/internal/contract"
)

// Slack's own example from "Verifying requests from Slack".
func TestSignMatchesSlacksDocumentedExample(t *testing.T) {
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	const want = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	if got := gateway.Sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, []byte(body)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if got := slackSign("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", []byte(body)); got != want {
		t.Errorf("the tests' own signer = %s, want %s", got, want)
	}
}

// startRecorder stands in for Temporal in the signature tests, which need
// no server (so they run everywhere, never skip): it takes every start and
// signal and remembers the workflow ids, and describes only those. Any
// other call panics (the embedded nil Starter), failing the request.
type startRecorder struct {
	gateway.Starter
	mu  sync.Mutex
	ids []string
}

func (s *startRecorder) record(id string) (gateway.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, id)
	return gateway.Run{WorkflowID: id, RunID: "run-" + id}, nil
}

func (s *startRecorder) StartDeploy(_ context.Context, in contract.DeployInput, _ string) (gateway.Run, error) {
	return s.record(contract.DeployWorkflowID(in.Request.App))
}

func (s *startRecorder) StartCommand(_ context.Context, _, id string, _ contract.CommandInput, _ string) (gateway.Run, error) {
	return s.record(id)
}

func (s *startRecorder) SignalDecision(_ context.Context, id, _ string, _ contract.Decision) error {
	_, err := s.record(id)
	return err
}

// DescribeRun knows only the runs it started; the gateway asks first
// whether the request was handled already.
func (s *startRecorder) DescribeRun(_ context.Context, id, _ string) (gateway.RunInfo, error) {
	if slices.Contains(s.started(), id) {
		return gateway.RunInfo{Run: gateway.Run{WorkflowID: id, RunID: "run-" + id}, Running: true, Status: "running"}, nil
	}
	return gateway.RunInfo{}, gateway.ErrNotFound
}

// started lists the workflow ids started or signalled so far.
func (s *startRecorder) started() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// newSignatureHarness is a gateway whose Temporal is startRecorder and an
// unreachable lazy client (for /readyz): no Temporal server is needed.
func newSignatureHarness(t *testing.T, opts ...harnessOpt) (*harness, *startRecorder) {
	t.Helper()
	rec := &startRecorder{}
	return newHarness(t, downTemporalClient(t), append([]harnessOpt{withStarter(rec)}, opts...)...), rec
}

// Every route Slack calls refuses what Slack did not sign, before looking
// at it: nothing starts, the refusal is logged and counted by reason.
func TestUnsignedRequestsAreRefusedAndCounted(t *testing.T) {
	h, rec := newSignatureHarness(t)
	app := uniq("forged")
	full := "<@" + botID + "> sync " + app
	m := mention{eventID: uniq("Ev"), user: alice, text: full, ts: h.say(alice, full)}
	body := m.body()
	now := time.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	stale := strconv.FormatInt(now-6*60, 10)
	future := strconv.FormatInt(now+6*60, 10)
	cases := []struct {
		name   string
		hdr    http.Header
		body   []byte
		reason string
	}{
		{"no headers", http.Header{}, body, "missing"},
		{"no signature", http.Header{"X-Slack-Request-Timestamp": {ts}}, body, "missing"},
		{"no timestamp", http.Header{"X-Slack-Signature": {slackSign(testSecret, ts, body)}}, body, "missing"},
		{"wrong secret", http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {slackSign("not-the-secret", ts, body)}}, body, "mismatch"},
		{"tampered body", http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {slackSign(testSecret, ts, body)}}, bytes.Replace(body, []byte(app), []byte(app+"x"), 1), "mismatch"},
		{"other timestamp", http.Header{"X-Slack-Request-Timestamp": {strconv.FormatInt(now-1, 10)}, "X-Slack-Signature": {slackSign(testSecret, ts, body)}}, body, "mismatch"},
		{"stale", http.Header{"X-Slack-Request-Timestamp": {stale}, "X-Slack-Signature": {slackSign(testSecret, stale, body)}}, body, "stale"},
		{"future", http.Header{"X-Slack-Request-Timestamp": {future}, "X-Slack-Signature": {slackSign(testSecret, future, body)}}, body, "stale"},
		{"timestamp not a number", http.Header{"X-Slack-Request-Timestamp": {"yesterday"}, "X-Slack-Signature": {slackSign(testSecret, "yesterday", body)}}, body, "malformed"},
		{"signature not v0", http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {strings.Replace(slackSign(testSecret, ts, body), "v0=", "v1=", 1)}}, body, "malformed"},
		{"signature not hex", http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {"v0=" + strings.Repeat("zz", 32)}}, body, "malformed"},
		{"signature short", http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {slackSign(testSecret, ts, body)[:40]}}, body, "malformed"},
	}
	for _, path := range []string{"/slack/events", "/slack/interactions", "/interactions", "/slack/commands"} {
		for _, tc := range cases {
			before := h.counter("deploybot_gateway_signature_failures_total", "reason", tc.reason)
			if ack := h.post(path, "application/json", tc.body, tc.hdr); ack.code != http.StatusUnauthorized {
				t.Errorf("%s %s: %d %s, want 401", path, tc.name, ack.code, ack.body)
			}
			if after := h.counter("deploybot_gateway_signature_failures_total", "reason", tc.reason); after != before+1 {
				t.Errorf("%s %s: signature_failures_total{reason=%q} went %v → %v", path, tc.name, tc.reason, before, after)
			}
		}
	}
	h.settle()
	if got := rec.started(); len(got) != 0 {
		t.Errorf("refused requests started or signalled %v", got)
	}
	if th := h.thread(m.ts); len(th) != 0 {
		t.Errorf("a refused request got replies: %+v", th)
	}
	if n := len(logLines(h.logs, "slack request refused", "reason=")); n != 4*len(cases) {
		t.Errorf("%d refusal log lines, want %d", n, 4*len(cases))
	}
	if got := h.counter("deploybot_gateway_requests_total", "outcome", "bad_signature"); got != float64(4*len(cases)) {
		t.Errorf("requests_total{outcome=bad_signature} = %v, want %d", got, 4*len(cases))
	}
	// The correctly signed original still works afterwards.
	if ack := h.postEvent(body); ack.code != 200 || !slices.Equal(rec.started(), []string{contract.DeployWorkflowID(app)}) {
		t.Errorf("the genuine request: %d %s, started %v", ack.code, ack.body, rec.started())
	}
}

// Bodies over 1 MiB are refused with 413 unread, whether they announce
// their size or not.
func TestOversizedBodyIs413(t *testing.T) {
	h, rec := newSignatureHarness(t)
	defer func() {
		if got := rec.started(); len(got) != 0 {
			t.Errorf("oversized or unparsable bodies started %v", got)
		}
	}()
	big := bytes.Repeat([]byte("a"), gateway.MaxBodyBytes+1)
	if ack := h.post("/slack/events", "application/json", big, signed(big)); ack.code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", ack.code)
	}
	// Chunked: no Content-Length, so the cap is hit while reading.
	req, _ := http.NewRequest(http.MethodPost, h.url+"/slack/commands", struct{ *bytes.Reader }{bytes.NewReader(big)})
	req.ContentLength = -1
	for k, v := range signed(big) {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body = %d, want 413", resp.StatusCode)
	}
	if got := h.counter("deploybot_gateway_signature_failures_total", "reason", "too_large"); got != 2 {
		t.Errorf("signature_failures_total{too_large} = %v, want 2", got)
	}
	// Exactly at the cap is read (and then refused for its signature only
	// if wrong; here it is right but not JSON).
	atCap := bytes.Repeat([]byte("a"), gateway.MaxBodyBytes)
	if ack := h.post("/slack/events", "application/json", atCap, signed(atCap)); ack.code != http.StatusBadRequest {
		t.Errorf("body at the cap = %d, want 400 (read, verified, not JSON)", ack.code)
	}
}

// Without SIGNING_SECRET (a Socket Mode deployment), HTTP refuses every
// Slack request rather than trusting it.
func TestNoSigningSecretRefusesEverything(t *testing.T) {
	h, rec := newSignatureHarness(t, func(c *config.Config, _ *gateway.Options) { c.SigningSecret = "" })
	defer func() {
		if got := rec.started(); len(got) != 0 {
			t.Errorf("with no secret, requests started %v", got)
		}
	}()
	body := []byte(`{"type":"url_verification","challenge":"x"}`)
	if ack := h.postEvent(body); ack.code != http.StatusUnauthorized {
		t.Errorf("with no secret: %d %s, want 401", ack.code, ack.body)
	}
	if got := h.counter("deploybot_gateway_signature_failures_total", "reason", "no_secret"); got != 1 {
		t.Errorf("no_secret = %v", got)
	}
	if !strings.Contains(h.logs.String(), "SIGNING_SECRET is not set") {
		t.Error("no warning about the missing secret")
	}
}
