package sonarqube

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func readPayload(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDocumentationPayload(t *testing.T) {
	p, err := Parse(readPayload(t, "doc_task_ok.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2016, 11, 18, 9, 46, 28, 0, time.UTC)
	if !p.AnalysedAt.Equal(want) {
		t.Errorf("AnalysedAt = %v, want %v", p.AnalysedAt, want)
	}
	if p.ServerURL != "http://localhost:9000" || p.TaskID != "AVh21JS2JepAEhwQ-b3u" || p.Status != "SUCCESS" ||
		p.Revision != "c739069ec7105e01303e8b3065a81141aad9f129" {
		t.Errorf("top-level fields: %+v", p)
	}
	if p.Project != (Project{Key: "myproject", Name: "My Project", URL: "https://mycompany.com/sonarqube/dashboard?id=myproject"}) {
		t.Errorf("Project = %+v", p.Project)
	}
	if p.Branch != nil {
		t.Errorf("Branch = %+v, want nil", p.Branch)
	}
	if p.Failed() || len(p.FailedConditions()) != 0 {
		t.Errorf("Failed() = %v, FailedConditions() = %v; want an OK gate", p.Failed(), p.FailedConditions())
	}
	if p.Gate.Name != "SonarQube way" || len(p.Gate.Conditions) != 4 {
		t.Fatalf("Gate = %+v", p.Gate)
	}
	if c := p.Gate.Conditions[3]; c.Status != "NO_VALUE" || c.Value != "" || c.ErrorThreshold != "80" || !c.OnLeakPeriod {
		t.Errorf("NO_VALUE condition = %+v", c)
	}
	if got, want := p.RunKey(), "myproject~default~task-AVh21JS2JepAEhwQ-b3u"; got != want {
		t.Errorf("RunKey() = %q, want %q", got, want)
	}
}

func TestParseBranchError(t *testing.T) {
	p, err := Parse(readPayload(t, "branch_error.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Failed() {
		t.Error("Failed() = false for an ERROR gate")
	}
	failed := p.FailedConditions()
	if len(failed) != 2 || failed[0].Metric != "new_security_rating" || failed[1].Metric != "new_coverage" ||
		failed[1].Value != "42.5" || failed[1].Operator != "LESS_THAN" {
		t.Errorf("FailedConditions() = %+v", failed)
	}
	if p.Branch == nil || p.Branch.Type != BranchTypeBranch || p.Branch.IsMain || p.Branch.Name != "release/2024.03" {
		t.Errorf("Branch = %+v", p.Branch)
	}
	if p.IsPullRequest() {
		t.Error("IsPullRequest() = true for a branch")
	}
	if p.Properties["sonar.analysis.buildNumber"] != "1234" {
		t.Errorf("Properties = %v", p.Properties)
	}
	if got, want := p.RunKey(), "deploybot:payments-api~branch-release%2F2024.03~task-AYx1XdE2Fq0bOqu1Xy9A"; got != want {
		t.Errorf("RunKey() = %q, want %q", got, want)
	}
}

func TestParsePullRequest(t *testing.T) {
	p, err := Parse(readPayload(t, "pull_request_ok.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsPullRequest() || p.Branch.Name != "482" || p.Failed() {
		t.Errorf("payload = %+v", p)
	}
	if _, off := p.AnalysedAt.Zone(); off != -5*3600 {
		t.Errorf("AnalysedAt offset = %d, want -5h", off)
	}
	if got, want := p.RunKey(), "deploybot:payments-api~pr-482~task-AYx2PrQ7Fq0bOqu1Xz3B"; got != want {
		t.Errorf("RunKey() = %q, want %q", got, want)
	}
}

func TestParseWithoutTaskID(t *testing.T) {
	p, err := Parse(readPayload(t, "issue_change_error_no_task.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.TaskID != "" || !p.Failed() || p.ChangedAt.IsZero() {
		t.Errorf("payload = %+v", p)
	}
	want := "deploybot:payments-api~branch-main~rev-9f2c1b7e5a3d4c6b8a0e1f2d3c4b5a6978675645@20240305T140211Z~chg-20240305T164002.000Z-error"
	if got := p.RunKey(); got != want {
		t.Errorf("RunKey() = %q, want %q", got, want)
	}
}

// TestRunKeyOfEachEvaluation (Step 7, defect 1): an analysis that fails,
// passes after an issue change, and fails again after another gives three
// runs, never a "duplicate" for the third; a repeated delivery of one
// evaluation stays one run.
func TestRunKeyOfEachEvaluation(t *testing.T) {
	failed, err := Parse(readPayload(t, "branch_error.json"))
	if err != nil {
		t.Fatal(err)
	}
	base, err := Parse(readPayload(t, "issue_change_error_no_task.json"))
	if err != nil {
		t.Fatal(err)
	}
	passed := base
	passed.Gate = &QualityGate{Name: base.Gate.Name, Status: GateOK}
	passed.ChangedAt = Time{base.ChangedAt.Add(time.Minute)}
	failedAgain := base
	failedAgain.ChangedAt = Time{base.ChangedAt.Add(2 * time.Minute)}
	keys := map[string]bool{}
	for _, p := range []Payload{failed, passed, failedAgain} {
		keys[p.RunKey()] = true
	}
	if len(keys) != 3 {
		t.Errorf("three evaluations got %d distinct keys: %v", len(keys), keys)
	}
	again := failedAgain
	if again.RunKey() != failedAgain.RunKey() {
		t.Error("a redelivery of one evaluation changed its key")
	}
	// Same changedAt, other result: two evaluations.
	flipped := failedAgain
	flipped.Gate = &QualityGate{Name: base.Gate.Name, Status: GateOK}
	if flipped.RunKey() == failedAgain.RunKey() {
		t.Error("a passing and a failing evaluation share a key")
	}
}

func TestRunKeyStableAcrossRedelivery(t *testing.T) {
	// A redelivery is the same analysis, possibly re-serialised: same key.
	body := readPayload(t, "branch_error.json")
	p1, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	re, err := json.Marshal(p1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Parse(re)
	if err != nil {
		t.Fatalf("Parse(Marshal(p)): %v\n%s", err, re)
	}
	if p1.RunKey() != p2.RunKey() {
		t.Errorf("RunKey changed across a round trip: %q vs %q", p1.RunKey(), p2.RunKey())
	}
}

var workflowIDSafe = regexp.MustCompile(`^[A-Za-z0-9._:%@~-]+$`)

func TestRunKeySanitisedAndDistinct(t *testing.T) {
	base := Payload{Project: Project{Key: "p"}, TaskID: "T1"}
	keys := map[string]string{}
	for _, name := range []string{"a/b", "a_b", "a%2Fb", "feature/ü ñ", "x\ny", ""} {
		p := base
		p.Branch = &Branch{Name: name, Type: BranchTypeBranch}
		k := p.RunKey()
		if !workflowIDSafe.MatchString(k) || strings.Count(k, "~") != 2 || strings.Contains(k, "/") {
			t.Errorf("RunKey for branch %q = %q: not sanitised", name, k)
		}
		if other, dup := keys[k]; dup {
			t.Errorf("branches %q and %q share RunKey %q", name, other, k)
		}
		keys[k] = name
	}
	pr := base
	pr.Branch = &Branch{Name: "7", Type: BranchTypePullRequest}
	br := base
	br.Branch = &Branch{Name: "7", Type: BranchTypeBranch}
	if pr.RunKey() == br.RunKey() {
		t.Error("pull request 7 and branch 7 share a RunKey")
	}

	long := base
	long.Project.Key = strings.Repeat("k", 900)
	k1 := long.RunKey()
	long.TaskID = "T2"
	k2 := long.RunKey()
	if len(k1) > maxRunKey || k1 == k2 || k1 != func() string { long.TaskID = "T1"; return long.RunKey() }() {
		t.Errorf("long keys: len %d, %q vs %q", len(k1), k1[len(k1)-20:], k2[len(k2)-20:])
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not json", `{"project":`, "not valid JSON"},
		{"wrong type", `{"project":{"key":7}}`, "project.key"},
		{"missing project key", `{"taskId":"T","project":{"name":"x"}}`, "project.key is missing"},
		{"bad analysedAt", `{"taskId":"T","analysedAt":"2016-11-18 10:46","project":{"key":"p"}}`, "analysedAt"},
		{"analysedAt not a string", `{"taskId":"T","analysedAt":12,"project":{"key":"p"}}`, "analysedAt"},
		{"no task nor date", `{"project":{"key":"p"}}`, "neither taskId nor analysedAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestTimeJSON(t *testing.T) {
	var tm Time
	if err := json.Unmarshal([]byte(`"2016-11-18T10:46:28+0100"`), &tm); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(tm)
	if err != nil || string(out) != `"2016-11-18T10:46:28+0100"` {
		t.Errorf("Marshal = %s, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`"2016-11-18T10:46:28+01:00"`), &tm); err != nil || tm.Hour() != 10 {
		t.Errorf("RFC 3339 fallback: %v, %v", tm, err)
	}
	if err := json.Unmarshal([]byte(`null`), &tm); err != nil || !tm.IsZero() {
		t.Errorf("null: %v, %v", tm, err)
	}
	if out, _ := json.Marshal(Time{}); string(out) != "null" {
		t.Errorf("zero Marshal = %s", out)
	}
}

func TestVerifySignature(t *testing.T) {
	body := readPayload(t, "doc_task_ok.json")
	good := Sign("s3cret", body)
	if len(good) != 64 || strings.ToLower(good) != good {
		t.Fatalf("Sign = %q, want 64 lowercase hex digits", good)
	}
	if err := VerifySignature("s3cret", body, good); err != nil {
		t.Errorf("good signature: %v", err)
	}
	for _, tc := range []struct {
		name, secret, header string
		body                 []byte
		want                 error
	}{
		{"no secret", "", good, body, ErrNoSecret},
		{"missing", "s3cret", "", body, ErrSignatureMissing},
		{"not hex", "s3cret", "zz" + good[2:], body, ErrSignatureMalformed},
		{"too short", "s3cret", good[:62], body, ErrSignatureMalformed},
		{"wrong secret", "other", good, body, ErrSignatureMismatch},
		{"altered body", "s3cret", good, append([]byte(" "), body...), ErrSignatureMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifySignature(tc.secret, tc.body, tc.header); !errors.Is(err, tc.want) {
				t.Errorf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"doc_task_ok.json", "branch_error.json", "pull_request_ok.json", "issue_change_error_no_task.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"project":{"key":"p"},"analysedAt":"2016-11-18T10:46:28+0100","branch":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Parse(body)
		if err != nil {
			return
		}
		// Whatever parses must give a usable key and predicates.
		k := p.RunKey()
		if k == "" || len(k) > maxRunKey || !workflowIDSafe.MatchString(k) {
			t.Errorf("RunKey() = %q", k)
		}
		_ = p.Failed()
		_ = p.FailedConditions()
	})
}
