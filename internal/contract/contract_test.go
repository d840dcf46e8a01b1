package contract_test

import (
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

func TestSearchAttributesAreTheDocumentedKeywords(t *testing.T) {
	want := []string{"DeployApp=Keyword", "DeployAction=Keyword", "RequestedBy=Keyword", "ApprovedBy=Keyword", "DeployOutcome=Keyword", "ArgoCDInstance=Keyword",
		"SastProject=Keyword", "SastBranch=Keyword", "SastRevision=Keyword", "SastOutcome=Keyword", "Approvers=KeywordList"}
	got := contract.SearchAttributes()
	if len(got) != len(want) {
		t.Fatalf("got %d search attributes, want %d: %+v", len(got), len(want), got)
	}
	for i, sa := range got {
		if sa.Name+"="+sa.Type != want[i] {
			t.Errorf("search attribute %d = %+v, want %s", i, sa, want[i])
		}
	}
}

func TestQualityGateInputValidate(t *testing.T) {
	ok := contract.QualityGateInput{
		Analysis: contract.Analysis{Key: "p~branch-main~task-1", ProjectKey: "p", GateStatus: contract.GateError},
		Policy:   contract.SASTPolicy{Channel: "C1", ApprovalTimeout: time.Hour},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
	passed := contract.QualityGateInput{Analysis: contract.Analysis{Key: "k", ProjectKey: "p", GateStatus: contract.GateOK}}
	if err := passed.Validate(); err != nil {
		t.Errorf("a passed gate needs no channel or timeout, but: %v", err)
	}
	bad := contract.QualityGateInput{Analysis: contract.Analysis{GateStatus: "WARN"}}
	err := bad.Validate()
	for _, want := range []string{"no key", "no project key", `"WARN"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %s", err, want)
		}
	}
	noChannel := ok
	noChannel.Policy.Channel = ""
	if err := noChannel.Validate(); err == nil || !strings.Contains(err.Error(), "SAST_CHANNEL") {
		t.Errorf("Validate() without channel = %v, want SAST_CHANNEL named", err)
	}
}

func TestSASTWorkflowID(t *testing.T) {
	id := contract.SASTWorkflowID("p~branch-main~task-1")
	if err := contract.ValidateSASTWorkflowID(id); err != nil {
		t.Errorf("ValidateSASTWorkflowID(%q) = %v", id, err)
	}
	for _, bad := range []string{"deploy-guestbook", "sast-", "sast-a/b", "sast-" + strings.Repeat("x", 1000)} {
		if contract.ValidateSASTWorkflowID(bad) == nil {
			t.Errorf("ValidateSASTWorkflowID(%q) accepted", bad)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"bob":                          "bob",
		"  Bob   Smith ":               "Bob Smith",
		"bob\r\nBcc: evil@example.com": "bob Bcc: evil@example.com",
		"a\u202eb\x00c\td":             "a b c d",
		strings.Repeat("x", 100):       strings.Repeat("x", 80),
		"\xff\xfe":                     "",
	} {
		if got := contract.CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIsSlackUserID: the one definition of a Slack member id that the
// gateway, the runs API and config checks go by.
func TestIsSlackUserID(t *testing.T) {
	for id, want := range map[string]bool{
		"U0ALICE": true, "W0CAROL": true, "U" + strings.Repeat("A", 31): true,
		"": false, "U0": false, "u0alice": false, "B0BOT": false, "U0ALICE> <!channel": false,
		"U" + strings.Repeat("A", 32): false,
	} {
		if got := contract.IsSlackUserID(id); got != want {
			t.Errorf("IsSlackUserID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestAppsInAnyNamespace(t *testing.T) {
	for _, ok := range []string{"guestbook", "team-a/guestbook", "team-a/guest.book", "a/b", "guestbook@prod", "team-a/guestbook@prod-eu"} {
		if err := contract.ValidateAppName(ok); err != nil {
			t.Errorf("ValidateAppName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"/guestbook", "team_a/guestbook", "Team/guestbook", "a/b/c", "team-a/", "team.a/guestbook", strings.Repeat("n", 64) + "/x",
		"guestbook@", "guestbook@Prod", "guestbook@a@b", "@prod"} {
		err := contract.ValidateAppName(bad)
		if err == nil || !strings.Contains(err.Error(), "team-a/guestbook") && !strings.Contains(err.Error(), "e.g. guestbook") && !strings.Contains(err.Error(), "e.g. prod") {
			t.Errorf("ValidateAppName(%q) = %v, want an error with an example", bad, err)
		}
	}
	// One rule each for namespaces and projects, wherever they are read.
	for _, tc := range []struct {
		s      string
		ns, pr bool
	}{
		{"team-a", true, true}, {"argocd", true, true}, {"team.a", false, true}, {"Team", false, false},
		{"a/b", false, false}, {"", false, false}, {strings.Repeat("n", 64), false, true}, {strings.Repeat("n", 254), false, false},
	} {
		if err := contract.ValidateNamespace(tc.s); (err == nil) != tc.ns {
			t.Errorf("ValidateNamespace(%q) = %v, want ok %v", tc.s, err, tc.ns)
		}
		if err := contract.ValidateProjectName(tc.s); (err == nil) != tc.pr || err != nil && !strings.Contains(err.Error(), "e.g. payments") {
			t.Errorf("ValidateProjectName(%q) = %v, want ok %v (or an example)", tc.s, err, tc.pr)
		}
	}
	if ns, n := contract.SplitApp("team-a/guestbook"); ns != "team-a" || n != "guestbook" {
		t.Errorf("SplitApp = %q %q", ns, n)
	}
	for _, tc := range []struct{ ns, name, argo, want string }{
		{"", "guestbook", "", "guestbook"},
		{"argocd", "guestbook", "", "guestbook"},
		{"gitops", "guestbook", "gitops", "guestbook"},
		{"argocd", "guestbook", "gitops", "argocd/guestbook"},
		{"team-a", "guestbook", "", "team-a/guestbook"},
	} {
		if got := contract.QualifiedApp(tc.ns, tc.name, tc.argo); got != tc.want {
			t.Errorf("QualifiedApp(%q, %q, %q) = %q, want %q", tc.ns, tc.name, tc.argo, got, tc.want)
		}
	}
	// One run id per (namespace, app), safe in Temporal UI URLs, and back.
	ids := map[string]string{}
	for _, app := range []string{"guestbook", "team-a/guestbook", "team-a.guestbook", "team-a-guestbook", "team/a-guestbook",
		"guestbook@prod", "team-a/guestbook@prod", "guestbook@prod-eu"} {
		id := contract.DeployWorkflowID(app)
		if other, dup := ids[id]; dup {
			t.Errorf("%q and %q share the run id %q", app, other, id)
		}
		ids[id] = app
		if strings.ContainsAny(id, "/@:%") {
			t.Errorf("run id %q has a character the Temporal UI mishandles in URLs", id)
		}
		if back, ok := contract.AppFromDeployWorkflowID(id); !ok || back != app {
			t.Errorf("AppFromDeployWorkflowID(%q) = %q %v, want %q", id, back, ok, app)
		}
	}
	if rest, inst := contract.SplitInstance("team-a/guestbook@prod"); rest != "team-a/guestbook" || inst != "prod" {
		t.Errorf("SplitInstance = %q %q", rest, inst)
	}
	if _, ok := contract.AppFromDeployWorkflowID("sast-x"); ok {
		t.Error("a SAST id read as a deploy run")
	}
}
