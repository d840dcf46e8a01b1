package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/devenv/devtest"
	"github.com/deploybot/deploybot/internal/runsapi"
	"github.com/deploybot/deploybot/internal/sonarqube"
)

// deliver posts a SonarQube webhook as SonarQube does and returns the
// gateway's status and JSON answer.
func deliver(t *testing.T, env *devtest.Env, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.SonarQubeWebhook, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sonarqube.ProjectHeader, "deploybot:payments-api")
	req.Header.Set(sonarqube.SignatureHeader, sonarqube.Sign(env.SonarQubeWebhookSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// failedGate is a failed-gate delivery of revision rev (a fresh analysis).
func failedGate(rev string) []byte {
	b, _ := json.Marshal(map[string]any{
		"serverUrl": "https://sonarqube.example.com", "taskId": "AY" + rev[:8], "status": "SUCCESS",
		"analysedAt": time.Now().Format(sonarqube.TimeLayout), "revision": rev,
		"project": map[string]any{"key": "deploybot:payments-api", "name": "payments-api", "url": "https://sonarqube.example.com/dashboard?id=deploybot%3Apayments-api"},
		"branch":  map[string]any{"name": "feature/" + rev[:6], "type": "BRANCH", "isMain": false},
		"qualityGate": map[string]any{"name": "Sonar way", "status": "ERROR", "conditions": []any{
			map[string]any{"metric": "new_security_rating", "operator": "GREATER_THAN", "value": "3", "status": "ERROR", "errorThreshold": "1"},
		}},
	})
	return b
}

// TestSASTWaitAgainstDev is the pipeline's view end to end: a failed gate
// reaches the gateway of `deploybot dev` (twice: one run), `deploybot sast
// wait` blocks on it, an approver decides through the runs API, and wait
// exits 0 for an accepted risk and 1 for a rejected one; the accepted one
// is emailed.
func TestSASTWaitAgainstDev(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole local environment")
	}
	env := devtest.StartEnv(t)
	api, err := runsapi.NewClient(env.Gateway, env.APIToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, tc := range []struct {
		rev      string
		decision string
		wantCode int
		wantOut  string
	}{
		{"1111111aaaaaaa2222222bbbbbbb3333333ccccc", runsapi.DecisionAccept, exitSASTAccepted, "accepted"},
		{"4444444ddddddd5555555eeeeeee6666666fffff", runsapi.DecisionReject, exitSASTRefused, "rejected"},
	} {
		body := failedGate(tc.rev)
		code, first := deliver(t, env, body)
		if code != http.StatusOK || first["runId"] == nil {
			t.Fatalf("first delivery: %d %v", code, first)
		}
		id, _ := first["workflowId"].(string)
		if code, again := deliver(t, env, body); code != http.StatusOK || again["duplicate"] != true {
			t.Fatalf("repeated delivery: %d %v, want 200 duplicate", code, again)
		}

		wait := startSASTWait(t, env.Gateway, env.APIToken,
			"--project", "deploybot:payments-api", "--revision", tc.rev, "--interval", "1s", "--timeout", "60s")

		// Wait until the run asks for a decision, then decide as a
		// non-approver (refused) and as bob.
		deadline := time.Now().Add(time.Minute)
		for {
			run, err := api.Get(ctx, id)
			if err == nil && run.State == runsapi.StateWaiting {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s never waited for a decision: %+v, %v", id, run, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, err := api.Decide(ctx, id, runsapi.DecisionRequest{Decision: tc.decision, User: "U0MALLORY"})
		var apiErr *runsapi.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden {
			t.Fatalf("mallory's decision: %v, want 403", err)
		}
		res, err := api.Decide(ctx, id, runsapi.DecisionRequest{Decision: tc.decision, User: "U0BOB", UserName: "bob"})
		if err != nil || res.Outcome != tc.wantOut {
			t.Fatalf("bob's decision: %+v, %v; want outcome %q", res, err, tc.wantOut)
		}

		got := wait()
		if got.code != tc.wantCode || !strings.Contains(got.stdout, tc.wantOut) {
			t.Errorf("sast wait for %s: exit %d, stdout %q; want %d and %q", tc.decision, got.code, got.stdout, tc.wantCode, tc.wantOut)
		}
		list, err := api.List(ctx, runsapi.ListQuery{Type: runsapi.TypeSAST, Project: "deploybot:payments-api", Revision: tc.rev})
		if err != nil || len(list.Runs) != 1 {
			t.Errorf("runs of %s: %+v, %v; want exactly one (the repeated delivery started nothing)", tc.rev, list, err)
		}
	}

	// Both decisions were emailed, each once.
	deadline := time.Now().Add(30 * time.Second)
	for len(env.Mail.Messages()) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	msgs := env.Mail.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d emails, want 2", len(msgs))
	}
	subjects := fmt.Sprint(msgs[0].Subject, " | ", msgs[1].Subject)
	if !strings.Contains(subjects, "Security risk accepted") || !strings.Contains(subjects, "Security exception rejected") {
		t.Errorf("subjects = %s", subjects)
	}
	for _, m := range msgs {
		if !strings.Contains(m.Text, "bob (U0BOB)") || len(m.To) != 1 || m.To[0] != "security@example.com" {
			t.Errorf("email to %v: %s", m.To, m.Text)
		}
	}
}
