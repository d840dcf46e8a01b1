package slackui

import (
	"fmt"
	"strings"

	"github.com/deploybot/deploybot/internal/contract"
)

// maxPreviewResources is how many resources the summary names; the file
// has them all.
const maxPreviewResources = 5

// PreviewSummary is the one paragraph an approver reads: "3 resources
// change: Deployment/guestbook image guestbook:1.4.2 → guestbook:1.5.0,
// replicas 2 → 3; ConfigMap/guestbook-env (new); Service/old (requires
// pruning; left in place)".
func PreviewSummary(p *contract.Preview) string {
	switch {
	case p == nil:
		return ""
	case p.Error != "":
		return "_Could not preview the " + previewedOperation(*p) + ": " + Escape(strings.Join(strings.Fields(p.Error), " ")) + "_"
	case len(p.Resources) == 0 && p.Rollback != nil:
		return fmt.Sprintf("Argo CD renders nothing to change: the app's resources match history entry %d.", p.Rollback.HistoryID) + sourceNote(*p)
	case len(p.Resources) == 0:
		return "Argo CD reports nothing to change: the app's resources match its target."
	}
	n := len(p.Resources) + p.OmittedResources
	var parts []string
	for i, r := range p.Resources {
		if i == maxPreviewResources {
			parts = append(parts, fmt.Sprintf("and %d more", n-i))
			break
		}
		parts = append(parts, resourceSummary(r))
	}
	return fmt.Sprintf("*%d resource%s change:* %s", n, plural(n), strings.Join(parts, "; ")) + sourceNote(*p)
}

// previewedOperation names what p previews: "sync", "rollback to 3".
func previewedOperation(p contract.Preview) string {
	if p.Rollback == nil {
		return "sync"
	}
	return fmt.Sprintf("rollback to %d", p.Rollback.HistoryID)
}

// sourceNote warns that a rollback's preview may not be what it deploys.
func sourceNote(p contract.Preview) string {
	if p.Rollback == nil || !p.Rollback.SourceDiffers {
		return ""
	}
	return fmt.Sprintf("\n_History entry %d deployed other source settings (Helm values, path or repository) than the app has now; "+
		"Argo CD renders the current ones at %s, so the rollback, which restores the entry's, may change more._", p.Rollback.HistoryID, code(ShortRev(p.Rollback.Revision)))
}

// resourceSummary is one resource of the summary, with the changes people
// look for first (images, replicas), and how many other fields change.
func resourceSummary(r contract.ResourceChange) string {
	s := code(r.Kind + "/" + r.Name)
	switch r.Change {
	case contract.ChangeCreate:
		return s + " (new)"
	case contract.ChangePrune:
		return s + " (requires pruning; left in place)"
	}
	var images, replicas []string
	others := r.OmittedFields
	for _, f := range r.Fields {
		switch {
		case strings.HasSuffix(f.Path, ".image") && strings.Contains(f.Path, "containers["):
			images = append(images, "image "+Escape(orNone(f.From))+" → "+Escape(orNone(f.To)))
		case f.Path == "spec.replicas":
			replicas = append(replicas, "replicas "+Escape(orNone(f.From))+" → "+Escape(orNone(f.To)))
		default:
			others++
		}
	}
	picked := append(images, replicas...)
	if others > 0 {
		picked = append(picked, fmt.Sprintf("%d other field%s", others, plural(others)))
	}
	if len(picked) > 0 {
		s += " " + strings.Join(picked, ", ")
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// PreviewFile is the full preview, attached to the request's thread (and
// to `diff APP`): every resource and changed field, "-" before, "+" after.
func PreviewFile(app string, p contract.Preview) string {
	var b strings.Builder
	if p.Rollback != nil {
		fmt.Fprintf(&b, "# What a rollback of %s to history entry %d (%s) would change: the manifests Argo CD renders at that revision vs the live state.\n", app, p.Rollback.HistoryID, p.Rollback.Revision)
		if p.Rollback.SourceDiffers {
			fmt.Fprintf(&b, "# Entry %d deployed other source settings than the app has now; these manifests are the current ones at its revision.\n", p.Rollback.HistoryID)
		}
	} else {
		fmt.Fprintf(&b, "# What a sync of %s would change, from Argo CD's managed resources (target vs live state).\n", app)
	}
	b.WriteString("# Secret values are never shown. deploybot syncs and rolls back without pruning: resources that require pruning stay.\n")
	if len(p.Resources) == 0 {
		b.WriteString("\nNothing: the app's resources match the target.\n")
	}
	for _, r := range p.Resources {
		id := r.Kind + " " + r.Name
		if r.Group != "" {
			id = r.Group + "/" + id
		}
		if r.Namespace != "" {
			id += " (namespace " + r.Namespace + ")"
		}
		mark := map[string]string{contract.ChangeCreate: "+", contract.ChangePrune: "-", contract.ChangeUpdate: "~"}[r.Change]
		what := map[string]string{contract.ChangeCreate: "created", contract.ChangePrune: "requires pruning (left in place)", contract.ChangeUpdate: "updated"}[r.Change]
		fmt.Fprintf(&b, "\n%s %s: %s\n", mark, id, what)
		for _, f := range r.Fields {
			if f.From != "" {
				fmt.Fprintf(&b, "  - %s: %s\n", f.Path, f.From)
			}
			if f.To != "" {
				fmt.Fprintf(&b, "  + %s: %s\n", f.Path, f.To)
			}
		}
		if r.OmittedFields > 0 {
			fmt.Fprintf(&b, "  … %d more changed fields left out\n", r.OmittedFields)
		}
	}
	if p.OmittedResources > 0 {
		fmt.Fprintf(&b, "\n… %d more changed resources left out\n", p.OmittedResources)
	}
	return b.String()
}

// PreviewHeading opens the preview in a message and the file's comment.
func PreviewHeading(app string, p contract.Preview) string {
	if p.Rollback != nil {
		return fmt.Sprintf(":mag: What a rollback of %s to history entry %d would change:", code(app), p.Rollback.HistoryID)
	}
	return fmt.Sprintf(":mag: What a sync of %s would change:", code(app))
}

// PreviewTitle is the preview file's title; the run id makes it unique to
// the run (see activities.UploadFileInput).
func PreviewTitle(app string, p contract.Preview, runID string) string {
	if p.Rollback != nil {
		return fmt.Sprintf("Rollback preview of %s to %d (run %s)", app, p.Rollback.HistoryID, runID)
	}
	return fmt.Sprintf("Sync preview of %s (run %s)", app, runID)
}

// PreviewFileSuffix ends the preview file's name, after the app's.
func PreviewFileSuffix(p contract.Preview) string {
	if p.Rollback != nil {
		return fmt.Sprintf("-rollback-%d-preview.txt", p.Rollback.HistoryID)
	}
	return "-sync-preview.txt"
}
