package contract

import "go.temporal.io/sdk/temporal"

// Search-attribute keys upserted by deploybot workflows so runs can be found in
// the Temporal UI by app, action, person and outcome. They are Keyword typed:
// exact-match filters such as `DeployApp = "guestbook"`.
var (
	// SearchAttrDeployApp is the Argo CD application a run acts on.
	SearchAttrDeployApp = temporal.NewSearchAttributeKeyKeyword("DeployApp")
	// SearchAttrDeployAction is the action of a run (sync, rollback, ...).
	SearchAttrDeployAction = temporal.NewSearchAttributeKeyKeyword("DeployAction")
	// SearchAttrRequestedBy is the Slack user id of the requester.
	SearchAttrRequestedBy = temporal.NewSearchAttributeKeyKeyword("RequestedBy")
	// SearchAttrApprovedBy is the Slack user id of whoever decided.
	SearchAttrApprovedBy = temporal.NewSearchAttributeKeyKeyword("ApprovedBy")
	// SearchAttrApprovers (KeywordList) are the Slack user ids of everyone
	// whose approval counted, for rules of several approvals: `Approvers =
	// "U0BOB"` finds every run bob approved. Runs whose rule the gateway
	// chose set it; older runs have ApprovedBy only.
	SearchAttrApprovers = temporal.NewSearchAttributeKeyKeywordList("Approvers")
	// SearchAttrDeployOutcome is how a run ended (succeeded, rejected, expired, ...).
	SearchAttrDeployOutcome = temporal.NewSearchAttributeKeyKeyword("DeployOutcome")
	// SearchAttrArgoCDInstance is the Argo CD instance a run acts on, set at
	// start when ARGOCD_INSTANCES_FILE names instances.
	SearchAttrArgoCDInstance = temporal.NewSearchAttributeKeyKeyword("ArgoCDInstance")

	// SearchAttrSASTProject is the SonarQube project key of a quality-gate run.
	SearchAttrSASTProject = temporal.NewSearchAttributeKeyKeyword("SastProject")
	// SearchAttrSASTBranch is the analysed branch (pull requests: "pr-<id>").
	SearchAttrSASTBranch = temporal.NewSearchAttributeKeyKeyword("SastBranch")
	// SearchAttrSASTRevision is the analysed commit.
	SearchAttrSASTRevision = temporal.NewSearchAttributeKeyKeyword("SastRevision")
	// SearchAttrSASTOutcome is how a quality-gate run ended (accepted, rejected, ...).
	SearchAttrSASTOutcome = temporal.NewSearchAttributeKeyKeyword("SastOutcome")
)

// SASTBranchAttr is the SearchAttrSASTBranch value of an analysis: the
// branch name, "pr-<id>" for a pull request, "" when none is reported.
func SASTBranchAttr(a Analysis) string {
	if a.PullRequest {
		return "pr-" + a.Branch
	}
	return a.Branch
}

// SearchAttribute names a custom search attribute and its Temporal type, as the
// server must declare it before workflows can upsert it.
type SearchAttribute struct {
	Name string
	Type string
}

// SearchAttributes lists every custom search attribute deploybot upserts, in a
// stable order. `deploybot dev` declares them on the local server; production
// operators declare them once with `temporal operator search-attribute create`.
func SearchAttributes() []SearchAttribute {
	keys := []temporal.SearchAttributeKeyKeyword{
		SearchAttrDeployApp, SearchAttrDeployAction, SearchAttrRequestedBy,
		SearchAttrApprovedBy, SearchAttrDeployOutcome, SearchAttrArgoCDInstance,
		SearchAttrSASTProject, SearchAttrSASTBranch, SearchAttrSASTRevision, SearchAttrSASTOutcome,
	}
	out := make([]SearchAttribute, 0, len(keys)+1)
	for _, k := range keys {
		out = append(out, SearchAttribute{Name: k.GetName(), Type: "Keyword"})
	}
	return append(out, SearchAttribute{Name: SearchAttrApprovers.GetName(), Type: "KeywordList"})
}

// SASTSearchAttributes are the search attributes of a quality-gate run for
// analysis a: project, branch (when reported) and revision (when known).
// The gateway sets them at start so visibility finds the run at once; the
// workflow upserts them too, for runs started any other way.
func SASTSearchAttributes(a Analysis) []temporal.SearchAttributeUpdate {
	attrs := []temporal.SearchAttributeUpdate{SearchAttrSASTProject.ValueSet(a.ProjectKey)}
	if b := SASTBranchAttr(a); b != "" {
		attrs = append(attrs, SearchAttrSASTBranch.ValueSet(b))
	}
	if a.Revision != "" {
		attrs = append(attrs, SearchAttrSASTRevision.ValueSet(a.Revision))
	}
	return attrs
}
