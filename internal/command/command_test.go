package command_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/internal/command"
	"github.com/deploybot/deploybot/internal/contract"
)

func TestParse(t *testing.T) {
	cases := []struct {
		text string
		want command.Command
	}{
		{"", command.Command{Name: command.Help}},
		{"<@U0BOT>", command.Command{Name: command.Help}},
		{"help", command.Command{Name: command.Help}},
		{"<@U0BOT> HELP me please", command.Command{Name: command.Help}},
		{"list_apps", command.Command{Name: command.ListApps}},
		{"  List-Apps  ", command.Command{Name: command.ListApps}},
		{"list_apps Payments", command.Command{Name: command.ListApps, Project: "payments"}},
		{"history guestbook", command.Command{Name: command.History, App: "guestbook"}},
		{"history team-a/guestbook@prod 25", command.Command{Name: command.History, App: "team-a/guestbook@prod", Count: 25}},
		{"<@U0BOT> status guestbook", command.Command{Name: command.Status, App: "guestbook"}},
		{"status <@U0BOT|deploybot> guestbook", command.Command{Name: command.Status, App: "guestbook"}},
		{"status guestbook <@U0BOT>", command.Command{Name: command.Status, App: "guestbook"}},
		{"SYNC   Guestbook", command.Command{Name: command.Sync, App: "guestbook"}},
		{"sync\u00a0guestbook\u200b", command.Command{Name: command.Sync, App: "guestbook"}},
		{"sync\tguestbook\n", command.Command{Name: command.Sync, App: "guestbook"}},
		{"sync “guestbook”", command.Command{Name: command.Sync, App: "guestbook"}},
		{"sync ‘guestbook’.", command.Command{Name: command.Sync, App: "guestbook"}},
		{"sync `guestbook`", command.Command{Name: command.Sync, App: "guestbook"}},
		{"sync team-a/guestbook", command.Command{Name: command.Sync, App: "team-a/guestbook"}},
		{"rollback Team-A/Guestbook 3", command.Command{Name: command.Rollback, App: "team-a/guestbook", HistoryID: 3}},
		{"*sync* _guestbook_", command.Command{Name: command.Sync, App: "guestbook"}},
		{"sync <http://guestbook.io|guestbook.io>", command.Command{Name: command.Sync, App: "guestbook.io"}},
		{"sync <http://guestbook.io>", command.Command{Name: command.Sync, App: "guestbook.io"}},
		{"sync <HTTPS://guestbook.io/>", command.Command{Name: command.Sync, App: "guestbook.io"}},
		{"<!here> sync guestbook", command.Command{Name: command.Sync, App: "guestbook"}},
		{"rollback_revisions guestbook", command.Command{Name: command.RollbackRevisions, App: "guestbook"}},
		{"rollback-revisions guestbook", command.Command{Name: command.RollbackRevisions, App: "guestbook"}},
		{"rollback guestbook 3", command.Command{Name: command.Rollback, App: "guestbook", HistoryID: 3}},
		{"rollback guestbook #12", command.Command{Name: command.Rollback, App: "guestbook", HistoryID: 12}},
		{"<@U0BOT> Rollback  Payments  \"2\"", command.Command{Name: command.Rollback, App: "payments", HistoryID: 2}},
		{"logs frontend", command.Command{Name: command.Logs, App: "frontend"}},
		{"autosync payments on", command.Command{Name: command.AutoSync, App: "payments", Arg: "on"}},
		{"autosync payments OFF", command.Command{Name: command.AutoSync, App: "payments", Arg: "off"}},
		{"auto-sync payments disable", command.Command{Name: command.AutoSync, App: "payments", Arg: "off"}},
		{"autosync off payments", command.Command{Name: command.AutoSync, App: "payments", Arg: "off"}},
		{"autosync on off", command.Command{Name: command.AutoSync, App: "on", Arg: "off"}},
	}
	for _, tc := range cases {
		got, err := command.Parse(tc.text)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.text, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.text, got, tc.want)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("Parse(%q) returned an invalid command: %v", tc.text, err)
		}
	}
}

func TestParseErrorsSayWhatWasWrong(t *testing.T) {
	cases := []struct {
		text string
		want []string // substrings of the error
	}{
		{"deploy guestbook", []string{`don't know the command "deploy"`}},
		{"sycn guestbook", []string{`"sycn"`, "Did you mean `sync APP`?"}},
		{"stauts guestbook", []string{"Did you mean `status APP`?"}},
		{"sync", []string{"sync needs an app name", "sync guestbook"}},
		{"<@U0BOT> status", []string{"status needs an app name"}},
		{"sync guestbook payments", []string{`"payments" is extra`, "sync APP"}},
		{"list_apps payments guestbook", []string{`"guestbook" is extra`, "list_apps [PROJECT]"}},
		{"list_apps Pay_Ments", []string{"not a valid Argo CD project name", "list_apps payments"}},
		{"history guestbook 0", []string{`"0" is not a number from 1 to 50`, "history guestbook 5"}},
		{"history guestbook 51", []string{`"51" is not a number from 1 to 50`}},
		{"history", []string{"history needs an app name"}},
		{"rollback guestbook", []string{"needs the history id", "rollback_revisions guestbook"}},
		{"rollback guestbook three", []string{`"three" is not a history id`}},
		{"rollback guestbook 0", []string{`"0" is not a history id`}},
		{"rollback guestbook -3", []string{`"-3" is not a history id`}},
		{"rollback guestbook 99999999999999999999", []string{"is not a history id"}},
		{"autosync guestbook", []string{"needs on or off"}},
		{"autosync guestbook maybe", []string{`not "maybe"`, "autosync APP on|off"}},
		{"sync Guest_Book", []string{`"guest_book" is not a valid Argo CD app name`}},
		{"sync ../../etc/passwd", []string{"is not a valid Argo CD app name"}},
		{"sync gu%2Fest", []string{"is not a valid Argo CD app name"}},
		{"status " + strings.Repeat("a", 254), []string{"at most 253"}},
		{strings.Repeat("sync guestbook ", 100), []string{"characters long"}},
	}
	for _, tc := range cases {
		got, err := command.Parse(tc.text)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", tc.text, got)
			continue
		}
		var ce *command.Error
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%q) error is %T, want *command.Error", tc.text, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%q) error %q lacks %q", tc.text, err, w)
			}
		}
	}
}

func TestStringRoundTrips(t *testing.T) {
	for _, c := range []command.Command{
		{Name: command.Help}, {Name: command.ListApps}, {Name: command.ListApps, Project: "payments"},
		{Name: command.Status, App: "a"}, {Name: command.Sync, App: "guestbook.io"},
		{Name: command.RollbackRevisions, App: "x-1"}, {Name: command.Rollback, App: "guestbook", HistoryID: 7},
		{Name: command.Logs, App: "frontend"}, {Name: command.AutoSync, App: "payments", Arg: "on"},
	} {
		got, err := command.Parse(c.String())
		if err != nil || got != c {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.String(), got, err, c)
		}
	}
}

func TestMutatingAndAction(t *testing.T) {
	for text, want := range map[string]string{
		"sync a": "sync", "rollback a 1": "rollback", "autosync a on": "autosync_on", "autosync a off": "autosync_off",
		"status a": "", "logs a": "", "list_apps": "", "list_apps p": "", "policy a": "", "help": "", "rollback_revisions a": "",
	} {
		c, err := command.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if string(c.Action()) != want || c.Mutating() != (want != "") {
			t.Errorf("%q: Action %q Mutating %v, want %q", text, c.Action(), c.Mutating(), want)
		}
	}
}

func TestHelpTextListsEveryCommand(t *testing.T) {
	h := command.HelpText("shipit", "Ships things.")
	for _, want := range []string{"*shipit* — Ships things.", "`@shipit <command>`", "/deploy"} {
		if !strings.Contains(h, want) {
			t.Errorf("help lacks %q:\n%s", want, h)
		}
	}
	for _, n := range command.Names {
		if !strings.Contains(h, "`"+n.Usage()+"`") {
			t.Errorf("help lacks %s:\n%s", n.Usage(), h)
		}
	}
	if !strings.Contains(command.HelpText("", ""), "*deploybot*") {
		t.Error("help without a name does not fall back to deploybot")
	}
}

// FuzzParse checks that Parse never panics and always returns either a
// valid command that round-trips through String, or an *Error with a
// message.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "help", "<@U1> sync guestbook", "rollback guestbook 3", "autosync payments off",
		"sync <http://guestbook.io|guestbook.io>", "status “x”", "<", "<>", "<|>", "<http://|>",
		"rollback a #", "list_apps x", "\u200b", "sync a\u00a0b", "&lt;@U1&gt;", "logs <mailto:a@b.c>",
		"sync a --emergency INC-1 <@U1> down", "sync a —emergency &amp; <x", "policy a rollback",
		"freeze a for 2h x", "freeze project:p until 2026-12-24 &lt;y", "unfreeze all", "freezes",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := command.Parse(text)
		if err != nil {
			var ce *command.Error
			if !errors.As(err, &ce) || err.Error() == "" {
				t.Fatalf("Parse(%q): error %T %q is not a *command.Error with a message", text, err, err)
			}
			if c != (command.Command{}) {
				t.Fatalf("Parse(%q) returned %+v along with an error", text, c)
			}
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("Parse(%q) = %+v, which is invalid: %v", text, c, verr)
		}
		again, err := command.Parse(c.String())
		if err != nil || again != c {
			t.Fatalf("Parse(%q) = %+v, but Parse(%q) = %+v, %v", text, c, c.String(), again, err)
		}
	})
}

func TestParseEmergencyAndPolicy(t *testing.T) {
	for _, tc := range []struct {
		text string
		want command.Command
	}{
		{"sync guestbook --emergency INC-4411 Checkout is DOWN", command.Command{Name: command.Sync, App: "guestbook", Emergency: "INC-4411 Checkout is DOWN"}},
		{"<@U0BOT> Sync guestbook@prod —emergency   pager <@U0BOB> said so", command.Command{Name: command.Sync, App: "guestbook@prod", Emergency: "pager said so"}},
		{"policy guestbook", command.Command{Name: command.Policy, App: "guestbook"}},
		{"policy team-a/guestbook Rollback", command.Command{Name: command.Policy, App: "team-a/guestbook", Arg: "rollback"}},
		{"policy guestbook autosync-off", command.Command{Name: command.Policy, App: "guestbook", Arg: "autosync_off"}},
	} {
		got, err := command.Parse(tc.text)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.text, got, err, tc.want)
			continue
		}
		if again, err := command.Parse(got.String()); err != nil || again != got {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
	for text, want := range map[string]string{
		"sync guestbook --emergency":         "--emergency needs a reason after it",
		"rollback guestbook 3 --emergency x": "only sync takes --emergency",
		"policy guestbook deploy":            `"deploy" is not an action`,
		"policy guestbook sync extra":        "too many words",
	} {
		if _, err := command.Parse(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", text, err, want)
		}
	}
}

// TestEveryCommandOfTheTable: each row parses from its example into a valid
// command of its own name that round-trips, is listed by help, and has
// what its kind needs (a workflow for Read and Change, an action for
// Change, none for Answered).
func TestEveryCommandOfTheTable(t *testing.T) {
	knownActions := map[contract.Action]bool{contract.ActionSync: true, contract.ActionRollback: true,
		contract.ActionAutoSyncOn: true, contract.ActionAutoSyncOff: true}
	help := command.HelpText("", "")
	for _, sp := range command.Table {
		c, err := command.Parse(sp.Example)
		if err != nil || c.Name != sp.Name {
			t.Errorf("%s: its example %q parses to %+v, %v", sp.Name, sp.Example, c, err)
			continue
		}
		if again, err := command.Parse(c.String()); err != nil || again != c {
			t.Errorf("%s: %q does not round-trip: %+v, %v", sp.Name, c.String(), again, err)
		}
		if !strings.Contains(help, "`"+sp.Usage+"`") {
			t.Errorf("%s: help does not list %q", sp.Name, sp.Usage)
		}
		if !strings.HasPrefix(sp.Usage, string(sp.Name)) || !strings.HasPrefix(sp.Example, string(sp.Name)) {
			t.Errorf("%s: usage %q and example %q must start with the name", sp.Name, sp.Usage, sp.Example)
		}
		switch sp.Kind {
		case command.Answered:
			if sp.Workflow != "" || c.Mutating() {
				t.Errorf("%s: answered by the gateway, but has workflow %q (mutating %v)", sp.Name, sp.Workflow, c.Mutating())
			}
		case command.Read:
			if sp.Workflow == "" || c.Mutating() || c.Action() != "" {
				t.Errorf("%s: a read command needs a workflow and no action (workflow %q, action %q)", sp.Name, sp.Workflow, c.Action())
			}
		case command.Change:
			if sp.Workflow != contract.WorkflowDeploy || !c.Mutating() || !knownActions[c.Action()] {
				t.Errorf("%s: a change needs DeployWorkflow and a valid action (workflow %q, action %q)", sp.Name, sp.Workflow, c.Action())
			}
		default:
			t.Errorf("%s: no kind", sp.Name)
		}
	}
	if len(command.Names) != len(command.Table) {
		t.Errorf("Names has %d commands, the table %d", len(command.Names), len(command.Table))
	}
}

func TestInputBuilders(t *testing.T) {
	set := command.Settings{LogTailLines: 42, RollbackFields: []string{"image"}}
	base := contract.CommandInput{RequestedBy: contract.User{ID: "U0ALICE"}, Namespace: "default"}
	for text, want := range map[string]contract.CommandInput{
		"list_apps":              {RequestedBy: base.RequestedBy, Namespace: "default", Command: "list_apps"},
		"list_apps payments":     {RequestedBy: base.RequestedBy, Namespace: "default", Projects: []string{"payments"}, Command: "list_apps payments"},
		"logs web":               {App: "web", RequestedBy: base.RequestedBy, Namespace: "default", TailLines: 42, Command: "logs web"},
		"rollback_revisions web": {App: "web", RequestedBy: base.RequestedBy, Namespace: "default", RollbackFields: []string{"image"}, Command: "rollback_revisions web"},
		"status web":             {App: "web", RequestedBy: base.RequestedBy, Namespace: "default", Command: "status web"},
	} {
		c, err := command.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ReadInput(base, set); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: input %+v, want %+v", text, got, want)
		}
	}
	c, _ := command.Parse("rollback web 4")
	r := c.DeployRequest(contract.DeployRequest{Channel: "C1"})
	if r.App != "web" || r.Action != contract.ActionRollback || r.HistoryID != 4 || r.Channel != "C1" {
		t.Errorf("rollback's deploy request = %+v", r)
	}
}

func TestParseFreeze(t *testing.T) {
	until := time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)
	for text, want := range map[string]command.Command{
		"freeze payments for 2h Quarter-end CLOSE":                         {Name: command.Freeze, App: "payments", For: 2 * time.Hour, Reason: "Quarter-end CLOSE"},
		"<@U0BOT> Freeze project:Payments FOR 3d audit":                    {Name: command.Freeze, Project: "payments", For: 72 * time.Hour, Reason: "audit"},
		"freeze all until 2026-12-24 holidays, see #ops":                   {Name: command.Freeze, Arg: "all", Until: until, Reason: "holidays, see #ops"},
		"freeze team-a/guestbook@prod until 2026-12-24T18:30 db migration": {Name: command.Freeze, App: "team-a/guestbook@prod", Until: until.Add(18*time.Hour + 30*time.Minute), Reason: "db migration"},
		"unfreeze project:payments":                                        {Name: command.Unfreeze, Project: "payments"},
		"freezes":                                                          {Name: command.Freezes},
	} {
		got, err := command.Parse(text)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", text, got, err, want)
			continue
		}
		if again, err := command.Parse(got.String()); err != nil || again != got {
			t.Errorf("%q does not round-trip: %+v, %v", got.String(), again, err)
		}
	}
	for text, want := range map[string]string{
		"freeze":                        "needs a target",
		"freeze payments":               "needs how long and why",
		"freeze payments for 2h":        "needs a reason after for 2h",
		"freeze payments for soon oops": `"soon" is not how long`,
		"freeze payments until xmas x":  `"xmas" is not when the freeze ends`,
		"freeze payments during 2h x":   "for DURATION or until DATE",
		"freeze project:Pay_x for 2h x": "not a valid Argo CD project name",
		"freeze payments for 100d x":    `"100d" is not how long`,
		"unfreeze payments now":         `"now" is extra`,
	} {
		if _, err := command.Parse(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", text, err, want)
		}
	}
}
