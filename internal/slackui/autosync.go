package slackui

import (
	"fmt"

	"github.com/deploybot/deploybot/internal/contract"
)

// AutoSyncChange is what deploybot did to an app's automated sync policy,
// and how, for the words that report it.
type AutoSyncChange struct {
	// Policy is the policy turned off (or kept with enabled: false), or the
	// one turned on.
	Policy *contract.AutoSyncPolicy
	// Method is which of Argo CD's two ways was used; ArgoCDVersion is the
	// server's version that decided it.
	Method        contract.AutoSyncMethod
	ArgoCDVersion string
	// RestoredRun and RestoredURL name the run that had removed the policy
	// turned on again ("" with Default: none was found).
	RestoredRun, RestoredURL string
	// Default: Argo CD's default automated policy was set, as no earlier
	// one removed by deploybot was found.
	Default bool
}

// AutoSyncAlreadyOff: nothing to turn off; kept is the policy Argo CD 3.1+
// keeps with enabled: false, if any.
func AutoSyncAlreadyOff(app string, kept *contract.AutoSyncPolicy) string {
	if kept != nil {
		return fmt.Sprintf("Auto-sync was already off for %s (its policy, %s, is kept with `enabled: false`); nothing changed.", app, describePolicy(kept))
	}
	return fmt.Sprintf("Auto-sync was already off for %s; nothing changed.", app)
}

// AutoSyncNowOff ends `autosync APP off`.
func AutoSyncNowOff(app string, c AutoSyncChange) string {
	msg := fmt.Sprintf("Auto-sync is now off for %s (it was %s): %s. Turn it back on with `autosync %s on`", app, describePolicy(c.Policy), howAutoSyncOff(c), app)
	if c.Method == contract.AutoSyncByEnabled {
		return msg + "."
	}
	return msg + "; deploybot will restore exactly this policy."
}

// AutoSyncAlreadyOn: nothing to turn on. p is the policy in force; nil when
// Argo CD itself answered that it was on already.
func AutoSyncAlreadyOn(app string, p *contract.AutoSyncPolicy) string {
	if p == nil {
		return fmt.Sprintf("Auto-sync was already on for %s when deploybot asked Argo CD; nothing changed.", app)
	}
	return fmt.Sprintf("Auto-sync was already on for %s (%s); nothing changed.", app, describePolicy(p))
}

// LastRemovedUnreadable: the policy deploybot removed earlier could not be
// looked up in Temporal, so auto-sync was not turned on.
func LastRemovedUnreadable(err string) string {
	return "could not look up the auto-sync policy deploybot removed earlier: " + err
}

// AutoSyncNowOn ends `autosync APP on`.
func AutoSyncNowOn(app string, c AutoSyncChange) string {
	source := ""
	switch {
	case c.RestoredRun != "":
		source = "restored the policy removed by run " + c.RestoredRun
		// A bare URL: status messages are plain text, and Slack links it.
		if c.RestoredURL != "" {
			source += " " + c.RestoredURL
		}
	case c.Default:
		source = "no earlier policy removed by deploybot was found, so Argo CD's default automated policy was set"
	}
	switch c.Method {
	case contract.AutoSyncByEnabled:
		source = fmt.Sprintf("deploybot set `enabled: true` on the policy Argo CD %s kept in the spec", c.ArgoCDVersion)
	case contract.AutoSyncByAutomated:
		source += fmt.Sprintf("; deploybot wrote spec.syncPolicy.automated, as Argo CD %s (before 3.1) has no `enabled` flag", c.ArgoCDVersion)
	}
	return fmt.Sprintf("Auto-sync is on again for %s: %s (%s). Argo CD will now sync it whenever it is OutOfSync.", app, describePolicy(c.Policy), source)
}

// describePolicy says what an automated policy was.
func describePolicy(p *contract.AutoSyncPolicy) string {
	if p == nil {
		return "automated"
	}
	return fmt.Sprintf("automated with prune=%t, selfHeal=%t, allowEmpty=%t", p.Prune, p.SelfHeal, p.AllowEmpty)
}

// howAutoSyncOff says which of Argo CD's two ways turned auto-sync off.
func howAutoSyncOff(c AutoSyncChange) string {
	switch c.Method {
	case contract.AutoSyncByEnabled:
		return fmt.Sprintf("deploybot set `enabled: false` on the automated policy, which Argo CD %s keeps in the spec", c.ArgoCDVersion)
	case contract.AutoSyncByAutomated:
		return fmt.Sprintf("deploybot removed spec.syncPolicy.automated, as Argo CD %s (before 3.1) has no `enabled` flag", c.ArgoCDVersion)
	}
	return "deploybot removed spec.syncPolicy.automated"
}
