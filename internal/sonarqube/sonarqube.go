// Package sonarqube decodes and authenticates SonarQube's project webhooks
// (quality-gate results sent after each analysis), for the quality-gate
// approvals.
package sonarqube

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// SignatureHeader is the header carrying the lowercase hex HMAC-SHA256 of
// the raw body, sent when the webhook has a secret.
const SignatureHeader = "X-Sonar-Webhook-HMAC-SHA256"

// ProjectHeader is the header carrying the project key on every delivery.
const ProjectHeader = "X-SonarQube-Project"

// TimeLayout is how SonarQube writes analysedAt and changedAt. It is not
// RFC 3339: the offset has no colon ("2016-11-18T10:46:28+0100").
const TimeLayout = "2006-01-02T15:04:05-0700"

// Quality gate statuses.
const (
	// GateOK is qualityGate.status when every condition passes.
	GateOK = "OK"
	// GateError is qualityGate.status when at least one condition fails.
	GateError = "ERROR"
)

// Branch types.
const (
	// BranchTypeBranch is branch.type for a long- or short-lived branch.
	BranchTypeBranch = "BRANCH"
	// BranchTypePullRequest is branch.type for a pull-request analysis;
	// branch.name is then the pull request's id.
	BranchTypePullRequest = "PULL_REQUEST"
)

// Payload is the JSON body of a SonarQube webhook delivery.
type Payload struct {
	ServerURL string `json:"serverUrl"`
	// TaskID is the background task of the analysis; it is absent when
	// the delivery was triggered by an issue change that flipped the gate.
	TaskID string `json:"taskId,omitempty"`
	// Status is the background task's status (SUCCESS, FAILED, …), not the gate's.
	Status     string            `json:"status"`
	AnalysedAt Time              `json:"analysedAt,omitzero"`
	Revision   string            `json:"revision,omitempty"`
	ChangedAt  Time              `json:"changedAt,omitzero"`
	Project    Project           `json:"project"`
	Branch     *Branch           `json:"branch,omitempty"`
	Gate       *QualityGate      `json:"qualityGate,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

// Project identifies the analysed project.
type Project struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
	URL  string `json:"url,omitempty"`
}

// Branch is the analysed branch or pull request.
type Branch struct {
	Name string `json:"name"`
	// Type is BranchTypeBranch or BranchTypePullRequest.
	Type   string `json:"type"`
	IsMain bool   `json:"isMain"`
	URL    string `json:"url,omitempty"`
}

// QualityGate is the result of the project's quality gate.
type QualityGate struct {
	Name string `json:"name"`
	// Status is GateOK or GateError.
	Status     string      `json:"status"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is one quality-gate condition and its result.
type Condition struct {
	Metric   string `json:"metric"`
	Operator string `json:"operator"`
	// Value is absent when the metric has no value (Status NO_VALUE).
	Value string `json:"value,omitempty"`
	// Status is OK, ERROR or NO_VALUE (older servers also send WARN).
	Status         string `json:"status"`
	ErrorThreshold string `json:"errorThreshold,omitempty"`
	OnLeakPeriod   bool   `json:"onLeakPeriod,omitempty"`
}

// Time is a timestamp in SonarQube's TimeLayout. The zero Time encodes as
// null and is omitted by omitzero.
type Time struct {
	time.Time
}

// UnmarshalJSON reads a TimeLayout string; null and "" give the zero Time.
// RFC 3339 is accepted too, so a proxy that normalises the body does not
// break deliveries.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp must be a string like %q", TimeLayout)
	}
	if s == "" {
		*t = Time{}
		return nil
	}
	parsed, err := time.Parse(TimeLayout, s)
	if err != nil {
		var err2 error
		if parsed, err2 = time.Parse(time.RFC3339, s); err2 != nil {
			return fmt.Errorf("timestamp %q is not in SonarQube's layout %s", s, TimeLayout)
		}
	}
	// The run's input carries it in UTC as RFC 3339, which has 4-digit
	// years only: "0000-01-01T00:30:00+0100" would fail the run's start.
	if y := parsed.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("timestamp %q is out of range (years 0000 to 9999 in UTC)", s)
	}
	*t = Time{parsed}
	return nil
}

// MarshalJSON writes t in TimeLayout, or null for the zero Time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Format(TimeLayout))
}

// Parse decodes a webhook body. It fails on invalid JSON, a missing
// project key, unparsable timestamps, and a delivery that cannot be told
// apart from others (no taskId and no analysedAt), since RunKey needs one.
func Parse(body []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return Payload{}, fmt.Errorf("sonarqube webhook: field %s: %s is not a %s", ute.Field, ute.Value, ute.Type)
		}
		if strings.Contains(err.Error(), "timestamp") {
			return Payload{}, fmt.Errorf("sonarqube webhook: analysedAt/changedAt: %w", err)
		}
		return Payload{}, fmt.Errorf("sonarqube webhook: body is not valid JSON: %w", err)
	}
	if p.Project.Key == "" {
		return Payload{}, errors.New("sonarqube webhook: project.key is missing: is the sender really a SonarQube webhook?")
	}
	if p.TaskID == "" && p.AnalysedAt.IsZero() {
		return Payload{}, errors.New("sonarqube webhook: neither taskId nor analysedAt is set, so the analysis cannot be identified")
	}
	return p, nil
}

// Failed reports whether the quality gate failed (status ERROR).
func (p Payload) Failed() bool {
	return p.Gate != nil && p.Gate.Status == GateError
}

// FailedConditions returns the conditions whose status is ERROR, in order.
func (p Payload) FailedConditions() []Condition {
	if p.Gate == nil {
		return nil
	}
	var out []Condition
	for _, c := range p.Gate.Conditions {
		if c.Status == GateError {
			out = append(out, c)
		}
	}
	return out
}

// IsPullRequest reports whether the analysis is of a pull request.
func (p Payload) IsPullRequest() bool {
	return p.Branch != nil && p.Branch.Type == BranchTypePullRequest
}

// maxRunKey keeps RunKey well under Temporal's default 1000-byte limit on
// workflow ids, leaving room for a prefix.
const maxRunKey = 400

// RunKey returns an id for the analysis this delivery reports, meant as a
// component of a Temporal workflow id so that a repeated delivery of the
// same analysis maps to the same workflow:
//
//	<project>~<branch>~<analysis>
//
// where <branch> is "branch-<name>", "pr-<id>", or "default" when the
// server sends no branch (editions without branch support), and <analysis>
// is "task-<taskId>", or for deliveries without a task (issue changes that
// flip the gate) "rev-<revision>@<analysedAt as UTC 20060102T150405Z>"
// followed by "~chg-<changedAt, to the millisecond>" and "-<gate status>".
//
// Each component is escaped: bytes outside [A-Za-z0-9._:-] become %XX, so
// the key is ASCII without spaces, slashes or '~' inside components (it can
// be one segment of a URL path, e.g. in the runs API), and
// distinct inputs (e.g. branches "a/b" and "a_b") never collide. A key
// longer than 400 bytes is cut and suffixed with a hash of the full key, so
// it stays stable and unique.
func (p Payload) RunKey() string {
	branch := "default"
	if p.Branch != nil && (p.Branch.Name != "" || p.Branch.Type != "") {
		switch p.Branch.Type {
		case BranchTypePullRequest:
			branch = "pr-" + escape(p.Branch.Name)
		case BranchTypeBranch, "":
			branch = "branch-" + escape(p.Branch.Name)
		default:
			branch = escape(strings.ToLower(p.Branch.Type)) + "-" + escape(p.Branch.Name)
		}
	}
	var analysis string
	if p.TaskID != "" {
		analysis = "task-" + escape(p.TaskID)
	} else {
		// An issue change re-evaluates the gate of the same analysis: each
		// evaluation (changedAt) and result is its own delivery, so a gate
		// that fails again after passing gets a request again.
		analysis = "rev-" + escape(p.Revision) + "@" + p.AnalysedAt.UTC().Format("20060102T150405Z")
		if !p.ChangedAt.IsZero() {
			analysis += "~chg-" + p.ChangedAt.UTC().Format("20060102T150405.000Z")
		}
		if p.Gate != nil && p.Gate.Status != "" {
			analysis += "-" + escape(strings.ToLower(p.Gate.Status))
		}
	}
	key := escape(p.Project.Key) + "~" + branch + "~" + analysis
	if len(key) > maxRunKey {
		sum := sha256.Sum256([]byte(key))
		key = key[:maxRunKey-18] + "~h" + hex.EncodeToString(sum[:8])
	}
	return key
}

// escape percent-encodes every byte outside [A-Za-z0-9._:-].
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// Errors of VerifySignature; wrapped, so test them with errors.Is.
var (
	// ErrNoSecret means VerifySignature was called without a secret.
	ErrNoSecret = errors.New("no webhook secret configured: set SONARQUBE_WEBHOOK_SECRET")
	// ErrSignatureMissing means the request had no signature header.
	ErrSignatureMissing = errors.New("missing " + SignatureHeader + " header: set the same secret on the SonarQube webhook as SONARQUBE_WEBHOOK_SECRET")
	// ErrSignatureMalformed means the header is not a hex SHA-256 HMAC.
	ErrSignatureMalformed = errors.New("malformed " + SignatureHeader + " header: want 64 hex digits")
	// ErrSignatureMismatch means the body was not signed with the secret.
	ErrSignatureMismatch = errors.New("wrong " + SignatureHeader + " signature: the webhook's secret differs from SONARQUBE_WEBHOOK_SECRET, or the body was altered")
)

// VerifySignature checks header (the value of SignatureHeader) against the
// HMAC-SHA256 of the raw body under secret, in constant time. body must be
// the bytes as received, before any decoding.
func VerifySignature(secret string, body []byte, header string) error {
	if secret == "" {
		return ErrNoSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	got, err := hex.DecodeString(header)
	if err != nil || len(got) != sha256.Size {
		return ErrSignatureMalformed
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrSignatureMismatch
	}
	return nil
}

// Sign returns the SignatureHeader value SonarQube would send for body;
// for tests and the dev simulator.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Analysis converts the delivery into what a quality-gate run needs. The
// dashboard link is the branch's or pull request's page when SonarQube
// sends one, else the project's.
func (p Payload) Analysis() contract.Analysis {
	a := contract.Analysis{
		Key:          p.RunKey(),
		ServerURL:    p.ServerURL,
		TaskID:       p.TaskID,
		ProjectKey:   p.Project.Key,
		ProjectName:  p.Project.Name,
		DashboardURL: p.Project.URL,
		Revision:     p.Revision,
		AnalysedAt:   p.AnalysedAt.UTC(),
		ChangedAt:    p.ChangedAt.UTC(),
		GateStatus:   GateOK,
	}
	if p.Branch != nil {
		a.Branch = p.Branch.Name
		a.PullRequest = p.IsPullRequest()
		a.IsMain = p.Branch.IsMain
		if p.Branch.URL != "" {
			a.DashboardURL = p.Branch.URL
		}
	}
	if p.Gate != nil {
		a.GateName = p.Gate.Name
		a.GateStatus = p.Gate.Status
		for _, c := range p.Gate.Conditions {
			a.Conditions = append(a.Conditions, contract.GateCondition{
				Metric: c.Metric, Operator: c.Operator, Value: c.Value, Status: c.Status, ErrorThreshold: c.ErrorThreshold,
			})
		}
	}
	return a
}
