package sonarqube_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/sonarqube"
)

func fzSamples(f *testing.F) [][]byte {
	var out [][]byte
	for _, name := range []string{"doc_task_ok.json", "branch_error.json", "pull_request_ok.json", "issue_change_error_no_task.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzAnalysis checks what the gateway does with a delivery that Parse
// accepts: its Analysis carries the delivery's key, which makes a valid
// quality-gate run id whose project part decodes back to the project key;
// Temporal's data converter can encode it as a workflow input; a gate of
// OK or ERROR (or none) passes contract.QualityGateInput.Validate and any
// other is refused by it; and the payload survives json.Marshal and Parse
// (what the playground sends) with the same key, to the second.
func FuzzAnalysis(f *testing.F) {
	for _, b := range fzSamples(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"project":{"key":"a~b/c d"},"taskId":"T~1","branch":{"name":"feature/x~y","type":"PULL_REQUEST"}}`))
	f.Add([]byte(`{"project":{"key":"p"},"analysedAt":"2024-03-05T14:02:11.123456789Z","changedAt":"2024-03-05T16:40:02.5+01:00","qualityGate":{"status":"ERROR"}}`))
	f.Add([]byte(`{"project":{"key":"p"},"taskId":"T1","qualityGate":{"status":"WARN"}}`))
	f.Add([]byte(`{"project":{"key":"` + strings.Repeat("k", 500) + `"},"taskId":"T1"}`))
	policy := contract.SASTPolicy{Channel: "C0SECURITY", Approvers: []string{"U0BOB"}, ApprovalTimeout: 24 * time.Hour}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := sonarqube.Parse(body)
		if err != nil {
			if err.Error() == "" || !strings.HasPrefix(err.Error(), "sonarqube webhook: ") {
				t.Fatalf("Parse error %q does not say it is about the webhook", err)
			}
			return
		}
		key := p.RunKey()
		a := p.Analysis()
		if a.Key != key || a.ProjectKey != p.Project.Key || a.ProjectKey == "" {
			t.Fatalf("Analysis %+v does not carry key %q and project %q", a, key, p.Project.Key)
		}
		if err := contract.ValidateSASTWorkflowID(contract.SASTWorkflowID(key)); err != nil {
			t.Fatalf("RunKey %q: %v", key, err)
		}
		if len(key) < 400 {
			project, _, _ := strings.Cut(key, "~")
			if got, err := url.PathUnescape(project); err != nil || got != p.Project.Key {
				t.Fatalf("RunKey %q: project part decodes to %q (%v), want %q", key, got, err, p.Project.Key)
			}
		}
		in := contract.QualityGateInput{Analysis: a, Policy: policy}
		if _, err := converter.GetDefaultDataConverter().ToPayloads(in); err != nil {
			t.Fatalf("Temporal cannot encode the run's input: %v", err)
		}
		gateOK := p.Gate == nil || p.Gate.Status == sonarqube.GateOK || p.Gate.Status == sonarqube.GateError
		if err := in.Validate(); (err == nil) != gateOK {
			t.Fatalf("gate %+v: Validate() = %v", p.Gate, err)
		}

		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("json.Marshal of a parsed payload: %v", err)
		}
		again, err := sonarqube.Parse(b)
		if err != nil {
			t.Fatalf("Parse(json.Marshal(p)) = %v for %s", err, b)
		}
		// The layout keeps seconds only.
		trunc := p
		trunc.AnalysedAt.Time = p.AnalysedAt.Truncate(time.Second)
		trunc.ChangedAt.Time = p.ChangedAt.Truncate(time.Second)
		if again.RunKey() != trunc.RunKey() {
			t.Fatalf("after json.Marshal and Parse, RunKey %q, want %q", again.RunKey(), trunc.RunKey())
		}
	})
}

// FuzzVerifySignature checks VerifySignature against an independent
// HMAC-SHA256: Sign's value verifies, also in uppercase and with the
// surrounding whitespace a proxy may add; the body with one byte flipped,
// or the signature with one digit changed, is ErrSignatureMismatch; an
// empty secret verifies nothing; and any header verifies only if it is the
// body's HMAC, failing otherwise with one of the package's errors.
func FuzzVerifySignature(f *testing.F) {
	samples := fzSamples(f)
	f.Add("s3cret", samples[0], sonarqube.Sign("s3cret", samples[0]), uint16(3))
	f.Add("sonar-webhook-secret-for-tests", samples[1], "", uint16(0))
	f.Add("s3cret", []byte(`{}`), strings.Repeat("0", 64), uint16(64))
	f.Add("", []byte(`{}`), sonarqube.Sign("", []byte(`{}`)), uint16(1))
	f.Add("s", []byte{}, " zz ", uint16(2))
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string, at uint16) {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := mac.Sum(nil)
		sig := sonarqube.Sign(secret, body)
		if sig != hex.EncodeToString(want) {
			t.Fatalf("Sign = %s, want %x", sig, want)
		}
		err := sonarqube.VerifySignature(secret, body, header)
		if secret == "" {
			if !errors.Is(err, sonarqube.ErrNoSecret) {
				t.Fatalf("no secret: %v, want ErrNoSecret", err)
			}
			return
		}
		got, herr := hex.DecodeString(strings.TrimSpace(header))
		switch {
		case err == nil && (herr != nil || !hmac.Equal(got, want)):
			t.Fatalf("header %q verified, but it is not the body's HMAC", header)
		case err != nil && !errors.Is(err, sonarqube.ErrSignatureMissing) && !errors.Is(err, sonarqube.ErrSignatureMalformed) && !errors.Is(err, sonarqube.ErrSignatureMismatch):
			t.Fatalf("header %q: %v is none of the package's errors", header, err)
		}
		for _, good := range []string{sig, strings.ToUpper(sig), " " + sig + "\r\n"} {
			if err := sonarqube.VerifySignature(secret, body, good); err != nil {
				t.Fatalf("the body's own signature %q: %v", good, err)
			}
		}
		if len(body) > 0 {
			flipped := bytes.Clone(body)
			flipped[int(at)%len(flipped)] ^= 1 << (at % 8)
			if err := sonarqube.VerifySignature(secret, flipped, sig); !errors.Is(err, sonarqube.ErrSignatureMismatch) {
				t.Fatalf("flipped body byte: %v, want ErrSignatureMismatch", err)
			}
		}
		b := []byte(sig)
		i := int(at) % len(b)
		b[i] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", b[i])+1+int(at>>8)%15)%16]
		if err := sonarqube.VerifySignature(secret, body, string(b)); !errors.Is(err, sonarqube.ErrSignatureMismatch) {
			t.Fatalf("changed signature digit %q: %v, want ErrSignatureMismatch", b, err)
		}
	})
}
