package playground_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/playground"
	"github.com/deploybot/deploybot/internal/slackapi"
	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/sonarqube"
)

// delivery is one request the fake gateway got.
type delivery struct {
	method, path string
	header       http.Header
	body         []byte
}

// fakeGateway records deliveries and answers with status and body.
type fakeGateway struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	status int
	answer string
}

func newFakeGateway(t *testing.T, status int, answer string) *fakeGateway {
	g := &fakeGateway{status: status, answer: answer}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.got = append(g.got, delivery{r.Method, r.URL.Path, r.Header.Clone(), b})
		g.mu.Unlock()
		w.WriteHeader(g.status)
		_, _ = io.WriteString(w, g.answer)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGateway) deliveries() []delivery {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]delivery(nil), g.got...)
}

type sonarAnswer struct {
	OK         bool   `json:"ok"`
	Error      string `json:"error"`
	Status     int    `json:"status"`
	StatusText string `json:"status_text"`
	Body       string `json:"body"`
	Gate       string `json:"gate"`
	Project    string `json:"project"`
	Branch     string `json:"branch"`
	Revision   string `json:"revision"`
	TaskID     string `json:"task_id"`
	Signed     bool   `json:"signed"`
}

func startPlayground(t *testing.T, opts playground.Options) *httptest.Server {
	t.Helper()
	users := []slackapi.User{{ID: "U0ALICE", Name: "alice"}, {ID: "U0DEPLOYBOT", Name: "deploybot", IsBot: true}}
	channel := slackapi.Channel{ID: "C0DEPLOYS", Name: "deploys"}
	opts.Slack = slackapi.StartTest(t, slackapi.Options{Token: "xoxb-t", Users: users, Channels: []slackapi.Channel{channel}})
	opts.SlackToken, opts.Users, opts.Channel = "xoxb-t", users, channel
	srv := httptest.NewServer(playground.New(opts))
	t.Cleanup(srv.Close)
	return srv
}

func sendSample(t *testing.T, srv *httptest.Server, gate string) (int, sonarAnswer) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/playground/api/sonarqube", "application/json", strings.NewReader(`{"gate":"`+gate+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a sonarAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, a
}

var (
	sonarTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$`)
	revisionRE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// TestSampleWebhooksAreSignedLikeSonarQube: the buttons' webhooks reach
// the gateway's SonarQube endpoint with SonarQube's headers, a signature
// that verifies with the secret, and a body SonarQube could have sent: a
// failed gate with its failed conditions, then a passing analysis of the
// same project and branch; each a new analysis. The page sees the
// gateway's answer.
func TestSampleWebhooksAreSignedLikeSonarQube(t *testing.T) {
	const secret = "webhook-secret"
	gw := newFakeGateway(t, http.StatusAccepted, `{"run":"sast-x"}`)
	srv := startPlayground(t, playground.Options{GatewayURL: gw.URL, SigningSecret: "s", SonarQubeSecret: secret})

	code, failed := sendSample(t, srv, "ERROR")
	if code != http.StatusOK || !failed.OK || failed.Status != http.StatusAccepted || failed.StatusText != "202 Accepted" || failed.Body != `{"run":"sast-x"}` || !failed.Signed {
		t.Fatalf("failed gate: HTTP %d %+v, want 200 with the gateway's 202 and body", code, failed)
	}
	code, passed := sendSample(t, srv, "ok")
	if code != http.StatusOK || !passed.OK || passed.Gate != "OK" {
		t.Fatalf("passing analysis: HTTP %d %+v", code, passed)
	}

	ds := gw.deliveries()
	if len(ds) != 2 {
		t.Fatalf("gateway got %d deliveries, want 2", len(ds))
	}
	var payloads []sonarqube.Payload
	for i, d := range ds {
		if d.method != http.MethodPost || d.path != playground.SonarQubeWebhookPath {
			t.Errorf("delivery %d: %s %s, want POST %s", i, d.method, d.path, playground.SonarQubeWebhookPath)
		}
		if ct := d.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("delivery %d: Content-Type %q", i, ct)
		}
		if p := d.header.Get(sonarqube.ProjectHeader); p != playground.SampleProjectKey {
			t.Errorf("delivery %d: %s %q", i, sonarqube.ProjectHeader, p)
		}
		if err := sonarqube.VerifySignature(secret, d.body, d.header.Get(sonarqube.SignatureHeader)); err != nil {
			t.Errorf("delivery %d: signature: %v", i, err)
		}
		var raw map[string]any
		if err := json.Unmarshal(d.body, &raw); err != nil {
			t.Fatal(err)
		}
		at, _ := raw["analysedAt"].(string)
		if !sonarTimeRE.MatchString(at) {
			t.Errorf("delivery %d: analysedAt %q is not in SonarQube's layout %s", i, at, sonarqube.TimeLayout)
		}
		p, err := sonarqube.Parse(d.body)
		if err != nil {
			t.Fatalf("delivery %d does not parse: %v\n%s", i, err, d.body)
		}
		if age := time.Since(p.AnalysedAt.Time); age < -time.Second || age > time.Minute {
			t.Errorf("delivery %d: analysedAt %v is not now", i, p.AnalysedAt)
		}
		if p.Status != "SUCCESS" || p.TaskID == "" || !revisionRE.MatchString(p.Revision) || p.ServerURL == "" ||
			p.Project.Key != playground.SampleProjectKey || p.Project.Name == "" || p.Project.URL == "" ||
			p.Branch == nil || p.Branch.Name != "main" || p.Branch.Type != sonarqube.BranchTypeBranch || !p.Branch.IsMain ||
			p.Gate == nil || p.Gate.Name != "Sonar way" {
			t.Errorf("delivery %d lacks what SonarQube sends:\n%s", i, d.body)
		}
		payloads = append(payloads, p)
	}

	f, ok := payloads[0], payloads[1]
	if f.Gate.Status != sonarqube.GateError {
		t.Errorf("first sample's gate is %s, want ERROR", f.Gate.Status)
	}
	var failedMetrics []string
	for _, c := range f.FailedConditions() {
		failedMetrics = append(failedMetrics, c.Metric+" "+c.Value+" vs "+c.ErrorThreshold)
	}
	if got := strings.Join(failedMetrics, "; "); got != "new_security_rating 3 vs 1; new_coverage 42.5 vs 80" {
		t.Errorf("failed conditions: %s", got)
	}
	if len(f.Gate.Conditions) <= len(f.FailedConditions()) {
		t.Errorf("the failed gate has no passing condition: %+v", f.Gate.Conditions)
	}
	if ok.Gate.Status != sonarqube.GateOK || len(ok.FailedConditions()) != 0 {
		t.Errorf("second sample's gate: %+v, want OK with no failed conditions", ok.Gate)
	}
	if f.TaskID == ok.TaskID || f.Revision == ok.Revision || f.RunKey() == ok.RunKey() {
		t.Errorf("the two samples are the same analysis: %s / %s", f.RunKey(), ok.RunKey())
	}
	if failed.TaskID != f.TaskID || failed.Revision != f.Revision || failed.Project != f.Project.Key || failed.Branch != "main" {
		t.Errorf("the page is told %+v, but the gateway got task %s revision %s", failed, f.TaskID, f.Revision)
	}
}

// TestSampleWebhookUnsignedWithoutSecret: with no secret the webhook has no
// signature header, as SonarQube sends it, and the page is told so.
func TestSampleWebhookUnsignedWithoutSecret(t *testing.T) {
	gw := newFakeGateway(t, http.StatusAccepted, "")
	srv := startPlayground(t, playground.Options{GatewayURL: gw.URL, SigningSecret: "s"})
	if code, a := sendSample(t, srv, "ERROR"); code != http.StatusOK || a.Signed {
		t.Fatalf("HTTP %d %+v", code, a)
	}
	if h := gw.deliveries()[0].header; h.Get(sonarqube.SignatureHeader) != "" {
		t.Errorf("unsigned webhook has %s: %q", sonarqube.SignatureHeader, h.Get(sonarqube.SignatureHeader))
	}
}

// TestSampleWebhookGatewayRefusal: when the gateway refuses or does not
// answer, the page gets its status and body, or the reason.
func TestSampleWebhookGatewayRefusal(t *testing.T) {
	gw := newFakeGateway(t, http.StatusUnauthorized, "wrong X-Sonar-Webhook-HMAC-SHA256 signature")
	srv := startPlayground(t, playground.Options{GatewayURL: gw.URL, SigningSecret: "s", SonarQubeSecret: "x"})
	code, a := sendSample(t, srv, "ERROR")
	if code != http.StatusBadGateway || a.OK || a.Status != http.StatusUnauthorized || a.Body != gw.answer ||
		!strings.Contains(a.Error, "gateway answered 401 Unauthorized: wrong X-Sonar") {
		t.Errorf("HTTP %d %+v, want 502 with the gateway's 401 and body", code, a)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	srv = startPlayground(t, playground.Options{GatewayURL: down.URL, SigningSecret: "s", SonarQubeSecret: "x"})
	code, a = sendSample(t, srv, "OK")
	if code != http.StatusBadGateway || a.OK || !strings.HasPrefix(a.Error, "gateway: ") {
		t.Errorf("gateway down: HTTP %d %+v, want 502 saying the gateway did not answer", code, a)
	}
}

func sendMail(t *testing.T, addr, subject, date, body string) {
	t.Helper()
	msg := "From: deploybot <deploybot@localhost>\r\nTo: security@example.com\r\nSubject: " + subject + "\r\n"
	if date != "" {
		msg += "Date: " + date + "\r\n"
	}
	msg += "\r\n" + body + "\r\n"
	if err := smtp.SendMail(addr, nil, "deploybot@localhost", []string{"security@example.com", "bcc@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

type emailList struct {
	Enabled bool `json:"enabled"`
	Emails  []struct {
		From, Subject, Date, Text, Received string
		To                                  []string
	} `json:"emails"`
}

func getEmails(t *testing.T, srv *httptest.Server) emailList {
	t.Helper()
	resp, err := http.Get(srv.URL + "/playground/api/emails")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l emailList
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("emails: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestEmailsNewestFirst: the Emails panel lists what the sink got, newest
// first, with sender, every recipient, subject, date and text; the page's
// event stream says when one arrives.
func TestEmailsNewestFirst(t *testing.T) {
	sink, err := smtpsink.Start("127.0.0.1:0", smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	done := make(chan struct{})
	defer close(done)
	srv := startPlayground(t, playground.Options{GatewayURL: "http://127.0.0.1:1", SigningSecret: "s", Mail: sink, Done: done})

	if l := getEmails(t, srv); !l.Enabled || len(l.Emails) != 0 {
		t.Fatalf("before any mail: %+v", l)
	}
	resp, err := http.Get(srv.URL + "/playground/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			events <- sc.Text()
		}
		close(events)
	}()

	sendMail(t, sink.Addr(), "first", "Mon, 02 Jan 2006 15:04:05 +0000", "one")
	sendMail(t, sink.Addr(), "Security exception accepted: payments-api", "", "Accepted by bob.\r\nNext steps: fix it.")
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case line, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			seen = line == `data: {"kind":"email"}`
		case <-deadline:
			t.Fatal("no email event on the stream")
		}
	}

	l := getEmails(t, srv)
	if len(l.Emails) != 2 {
		t.Fatalf("got %d emails, want 2", len(l.Emails))
	}
	newest, oldest := l.Emails[0], l.Emails[1]
	if newest.Subject != "Security exception accepted: payments-api" || oldest.Subject != "first" {
		t.Errorf("order: %q then %q, want newest first", newest.Subject, oldest.Subject)
	}
	if newest.From != "deploybot <deploybot@localhost>" || strings.Join(newest.To, ",") != "security@example.com,bcc@example.com" {
		t.Errorf("newest: from %q to %q", newest.From, newest.To)
	}
	if newest.Text != "Accepted by bob.\r\nNext steps: fix it.\r\n" {
		t.Errorf("newest text = %q", newest.Text)
	}
	if oldest.Date != "Mon, 02 Jan 2006 15:04:05 +0000" {
		t.Errorf("Date header shown as %q", oldest.Date)
	}
	if newest.Date == "" || newest.Received == "" {
		t.Errorf("a message without Date shows no date: %+v", newest)
	}
}

// TestEmailsWithoutMailbox: without a mailbox the panel is off, not broken.
func TestEmailsWithoutMailbox(t *testing.T) {
	srv := startPlayground(t, playground.Options{GatewayURL: "http://127.0.0.1:1", SigningSecret: "s"})
	if l := getEmails(t, srv); l.Enabled || l.Emails == nil || len(l.Emails) != 0 {
		t.Errorf("got %+v, want disabled and an empty list", l)
	}
}
