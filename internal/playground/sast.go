package playground

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/deploybot/deploybot/internal/smtpsink"
	"github.com/deploybot/deploybot/internal/sonarqube"
)

// SonarQubeWebhookPath is the gateway's endpoint for SonarQube webhooks,
// where the playground sends its samples.
const SonarQubeWebhookPath = "/webhooks/sonarqube"

// The analysed project of the sample webhooks; one project and branch, so a
// passing analysis supersedes the pending request of a failed one.
const (
	// SampleProjectKey is the SonarQube project key of the samples.
	SampleProjectKey = "deploybot:payments-api"
	// SampleProjectName is its display name.
	SampleProjectName = "payments-api"
	// SampleBranch is the analysed branch (the main branch).
	SampleBranch = "main"
	// sampleServerURL is a SonarQube that does not exist: links in the
	// messages show where a real one would lead.
	sampleServerURL = "https://sonarqube.example.com"
)

// sonarQubeTimeout is how long SonarQube waits for a webhook's answer.
const sonarQubeTimeout = 10 * time.Second

// maxEmails bounds the Emails panel; the sink keeps every message.
const maxEmails = 100

type jsonEmail struct {
	From     string   `json:"from"`
	To       []string `json:"to"`
	Subject  string   `json:"subject"`
	Date     string   `json:"date"`
	Received string   `json:"received"`
	Text     string   `json:"text"`
}

type jsonEmails struct {
	// Enabled is false when the playground has no mailbox.
	Enabled bool        `json:"enabled"`
	Emails  []jsonEmail `json:"emails"`
	// UIURL is the mail catcher to look in when the playground has no mailbox.
	UIURL string `json:"ui_url,omitempty"`
}

// emails lists the email the SMTP sink received, newest first.
func (h *handler) emails(w http.ResponseWriter, r *http.Request) {
	out := jsonEmails{Enabled: h.opts.Mail != nil, Emails: []jsonEmail{}}
	if h.opts.Mail == nil {
		out.UIURL = h.opts.MailUIURL
	}
	if h.opts.Mail != nil {
		msgs := h.opts.Mail.Messages()
		for i := len(msgs) - 1; i >= 0 && len(out.Emails) < maxEmails; i-- {
			out.Emails = append(out.Emails, emailJSON(msgs[i]))
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// emailJSON shows a message as a mail client would: the From header (the
// envelope sender if there is none), the envelope recipients (everyone who
// got it, Bcc included), the Date header (else when it arrived).
func emailJSON(m smtpsink.Message) jsonEmail {
	e := jsonEmail{From: m.From, To: append([]string{}, m.To...), Subject: m.Subject, Text: m.Text}
	if !m.Received.IsZero() {
		e.Received = m.Received.UTC().Format(time.RFC3339)
		e.Date = m.Received.Format(time.RFC1123Z)
	}
	if hdr := m.Header; hdr != nil {
		if f := hdr.Get("From"); f != "" {
			e.From = f
			if a, err := mail.ParseAddress(f); err == nil {
				e.From = a.Address
				if a.Name != "" {
					e.From = a.Name + " <" + a.Address + ">"
				}
			}
		}
		if d, err := hdr.Date(); err == nil {
			e.Date = d.Format(time.RFC1123Z)
		}
	}
	if e.Text == "" && m.HTML != "" {
		e.Text = fmt.Sprintf("(no plain-text part; an HTML body of %d bytes)", len(m.HTML))
	}
	return e
}

type sonarQubeRequest struct {
	// Gate is the quality gate's status in the sample: ERROR or OK.
	Gate string `json:"gate"`
	// Branch is the analysed branch; "" = SampleBranch (the main one).
	// Analyses of one branch supersede each other; of two, they do not.
	Branch string `json:"branch,omitempty"`
}

type sonarQubeAnswer struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Status and Body are the gateway's answer, when it answered.
	Status     int    `json:"status,omitempty"`
	StatusText string `json:"status_text,omitempty"`
	Body       string `json:"body,omitempty"`
	// What was sent.
	Gate     string `json:"gate,omitempty"`
	Project  string `json:"project,omitempty"`
	Branch   string `json:"branch,omitempty"`
	Revision string `json:"revision,omitempty"`
	TaskID   string `json:"task_id,omitempty"`
	Signed   bool   `json:"signed"`
}

// sonarqube sends the gateway a sample SonarQube webhook as SonarQube
// would (real HTTP, its headers, its signature), and tells the page what
// the gateway answered.
func (h *handler) sonarqube(w http.ResponseWriter, r *http.Request) {
	var req sonarQubeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, sonarQubeAnswer{Error: "bad JSON: " + err.Error()})
		return
	}
	gate := strings.ToUpper(strings.TrimSpace(req.Gate))
	if gate != sonarqube.GateError && gate != sonarqube.GateOK {
		writeJSON(w, http.StatusBadRequest, sonarQubeAnswer{Error: fmt.Sprintf("gate %q: want %q (a failed quality gate) or %q (a passing one)", req.Gate, sonarqube.GateError, sonarqube.GateOK)})
		return
	}
	branch := strings.TrimSpace(req.Branch)
	if branch == "" {
		branch = SampleBranch
	}
	if len(branch) > 200 || strings.ContainsFunc(branch, unicode.IsControl) {
		writeJSON(w, http.StatusBadRequest, sonarQubeAnswer{Error: fmt.Sprintf("branch %q: use a git branch name of at most 200 characters, e.g. feature/login", req.Branch)})
		return
	}
	p := samplePayload(gate, branch, time.Now())
	body, err := json.Marshal(p)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, sonarQubeAnswer{Error: "encode the sample: " + err.Error()})
		return
	}
	ans := sonarQubeAnswer{Gate: gate, Project: p.Project.Key, Branch: p.Branch.Name, Revision: p.Revision, TaskID: p.TaskID, Signed: h.opts.SonarQubeSecret != ""}

	ctx, cancel := context.WithTimeout(r.Context(), sonarQubeTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(h.opts.GatewayURL, "/")+SonarQubeWebhookPath, bytes.NewReader(body))
	if err != nil {
		ans.Error = err.Error()
		writeJSON(w, http.StatusInternalServerError, ans)
		return
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(sonarqube.ProjectHeader, p.Project.Key)
	if h.opts.SonarQubeSecret != "" {
		hreq.Header.Set(sonarqube.SignatureHeader, sonarqube.Sign(h.opts.SonarQubeSecret, body))
	}
	resp, err := h.opts.Client.Do(hreq)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s, so SonarQube would count the delivery as failed (and never retry it): %w", sonarQubeTimeout, err)
		}
		h.opts.Logger.Warn("playground: the gateway did not answer the SonarQube webhook", "error", err)
		ans.Error = "gateway: " + err.Error()
		writeJSON(w, http.StatusBadGateway, ans)
		return
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	ans.Status, ans.StatusText, ans.Body = resp.StatusCode, resp.Status, strings.TrimSpace(string(msg))
	if resp.StatusCode/100 != 2 {
		ans.Error = fmt.Sprintf("gateway answered %s: %s", resp.Status, ans.Body)
		writeJSON(w, http.StatusBadGateway, ans)
		return
	}
	ans.OK = true
	writeJSON(w, http.StatusOK, ans)
}

// buildNumber numbers the samples like a CI server would.
var buildNumber atomic.Int64

// samplePayload is a delivery like SonarQube's after an analysis of the
// sample project's main branch: gate ERROR fails on security rating and
// coverage of new code, gate OK passes every condition. Each has a fresh
// task id and revision, as a new analysis would.
func samplePayload(gate, branch string, now time.Time) sonarqube.Payload {
	projectURL := sampleServerURL + "/dashboard?id=" + url.QueryEscape(SampleProjectKey)
	conditions := []sonarqube.Condition{
		{Metric: "new_reliability_rating", Operator: "GREATER_THAN", Value: "1", Status: sonarqube.GateOK, ErrorThreshold: "1"},
		{Metric: "new_security_rating", Operator: "GREATER_THAN", Value: "3", Status: sonarqube.GateError, ErrorThreshold: "1"},
		{Metric: "new_coverage", Operator: "LESS_THAN", Value: "42.5", Status: sonarqube.GateError, ErrorThreshold: "80"},
		{Metric: "new_duplicated_lines_density", Operator: "GREATER_THAN", Value: "1.2", Status: sonarqube.GateOK, ErrorThreshold: "3"},
	}
	if gate == sonarqube.GateOK {
		conditions[1].Value, conditions[1].Status = "1", sonarqube.GateOK
		conditions[2].Value, conditions[2].Status = "86.3", sonarqube.GateOK
	}
	at := sonarqube.Time{Time: now.Truncate(time.Second)}
	return sonarqube.Payload{
		ServerURL:  sampleServerURL,
		TaskID:     taskID(),
		Status:     "SUCCESS",
		AnalysedAt: at,
		ChangedAt:  at,
		Revision:   randomHex(20),
		Project:    sonarqube.Project{Key: SampleProjectKey, Name: SampleProjectName, URL: projectURL},
		Branch: &sonarqube.Branch{
			Name: branch, Type: sonarqube.BranchTypeBranch, IsMain: branch == SampleBranch,
			URL: projectURL + "&branch=" + url.QueryEscape(branch),
		},
		Gate: &sonarqube.QualityGate{Name: "Sonar way", Status: gate, Conditions: conditions},
		Properties: map[string]string{
			"sonar.analysis.buildNumber": strconv.FormatInt(1000+buildNumber.Add(1), 10),
			"sonar.analysis.source":      "deploybot playground",
		},
	}
}

// taskID looks like SonarQube's background task ids (20 characters of
// URL-safe base64, e.g. AYx1XdE2Fq0bOqu1Xy9A).
func taskID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&63]
	}
	return "AY" + string(b[2:])
}

// randomHex returns n random bytes in hex (a 40-digit git commit for n=20).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
