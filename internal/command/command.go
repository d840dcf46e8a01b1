// Package command parses what people type to deploybot, as a mention
// (`@deploybot sync guestbook`) or as the /deploy slash command, into a
// Command. It is pure: no I/O, no configuration, so the gateway, the tests
// and the fuzzer all run exactly the same code.
//
// Parsing is forgiving about how Slack and people write things (extra
// spaces, capitals, the bot's mention anywhere, Slack's link formatting,
// smart quotes, bold or code markup) and strict about what a command means:
// every error says what was wrong and how to write it instead.
package command

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/deploybot/deploybot/internal/contract"
)

// Name is a command's canonical name, as `help` lists it.
type Name string

// The commands deploybot understands, with the old bot's words.
const (
	Help              Name = "help"
	ListApps          Name = "list_apps"
	Status            Name = "status"
	Sync              Name = "sync"
	RollbackRevisions Name = "rollback_revisions"
	Rollback          Name = "rollback"
	Logs              Name = "logs"
	AutoSync          Name = "autosync"
	Policy            Name = "policy"
)

// Names lists every command in the order help shows them.
var Names = []Name{Help, ListApps, Status, Sync, RollbackRevisions, Rollback, Logs, AutoSync, Policy}

// MaxTextLen bounds the text Parse looks at; a command is a few words, so
// anything longer is a paste gone wrong, not a command.
const MaxTextLen = 1000

// Command is one parsed request. Only the fields its Name uses are set.
type Command struct {
	Name Name
	// App is the Argo CD application (every command but help and list_apps).
	App string
	// HistoryID is the Argo CD history id to roll back to (rollback only).
	HistoryID int64
	// Arg is "on" or "off" (autosync), or the action asked about (policy,
	// optional: sync, rollback, autosync_on, autosync_off).
	Arg string
	// Emergency is the reason of a break-glass sync (sync APP --emergency
	// REASON), as typed; "" for an ordinary request.
	Emergency string
}

// EmergencyFlag asks for a break-glass sync; the rest of the text is why.
const EmergencyFlag = "--emergency"

// Error is a command that could not be understood. Its message says what was
// wrong and how to write the command instead.
type Error struct {
	// Command is the command it was about, if that much was understood.
	Command Name
	msg     string
}

// Error is the explanation, ready to show to the person who typed it.
func (e *Error) Error() string { return e.msg }

func errorf(cmd Name, format string, args ...any) *Error {
	return &Error{Command: cmd, msg: fmt.Sprintf(format, args...)}
}

// spec is what a command takes.
type spec struct {
	usage   string // e.g. "rollback APP ID"
	example string // e.g. "rollback guestbook 3"
	summary string // one line for help
	args    int    // number of arguments after the command word (-1: any, ignored)
	// mutating commands change an app and need an approval.
	mutating bool
}

var specs = map[Name]spec{
	Help:              {usage: "help", example: "help", summary: "this list; anyone may use it", args: -1},
	ListApps:          {usage: "list_apps", example: "list_apps", summary: "every app with its sync status, health, image tags and target revision"},
	Status:            {usage: "status APP", example: "status guestbook", summary: "sync status and health, the current operation, and any deploybot run in flight", args: 1},
	Sync:              {usage: "sync APP", example: "sync guestbook", summary: "sync APP to its target revision, after an approval, and follow it until Healthy", args: 1, mutating: true},
	RollbackRevisions: {usage: "rollback_revisions APP", example: "rollback_revisions guestbook", summary: "APP's deployment history, with the ids rollback takes", args: 1},
	Rollback:          {usage: "rollback APP ID", example: "rollback guestbook 3", summary: "roll APP back to history entry ID, after an approval", args: 2, mutating: true},
	Logs:              {usage: "logs APP", example: "logs guestbook", summary: "the last lines of every pod of APP, as a file", args: 1},
	AutoSync:          {usage: "autosync APP on|off", example: "autosync guestbook off", summary: "turn Argo CD auto-sync of APP on or off, after an approval", args: 2, mutating: true},
	Policy:            {usage: "policy APP [ACTION]", example: "policy guestbook rollback", summary: "who may ask for each change of APP (or just ACTION: sync, rollback, autosync_on, autosync_off) and whose approvals it needs", args: 2},
}

// aliases are other spellings people use for a command word, after
// lowercasing and turning '-' into '_'.
var aliases = map[string]Name{
	"commands":          Help,
	"listapps":          ListApps,
	"apps":              ListApps,
	"rollbackrevisions": RollbackRevisions,
	"revisions":         RollbackRevisions,
	"history":           RollbackRevisions,
	"auto_sync":         AutoSync,
	"log":               Logs,
}

// Usage is how to write the command, e.g. "rollback APP ID"; "" if unknown.
func (n Name) Usage() string { return specs[n].usage }

// Known reports whether n is one of Names.
func (n Name) Known() bool { _, ok := specs[n]; return ok }

// Mutating reports whether the command changes an app (and so starts a
// DeployWorkflow that waits for an approval).
func (c Command) Mutating() bool { return specs[c.Name].mutating }

// Action is the DeployWorkflow action of a mutating command; "" otherwise.
func (c Command) Action() contract.Action {
	switch c.Name {
	case Sync:
		return contract.ActionSync
	case Rollback:
		return contract.ActionRollback
	case AutoSync:
		if c.Arg == "on" {
			return contract.ActionAutoSyncOn
		}
		return contract.ActionAutoSyncOff
	}
	return ""
}

// String is the command in its canonical form; Parse(c.String()) == c for
// every valid c.
func (c Command) String() string {
	switch {
	case c.Emergency != "":
		return string(c.Name) + " " + c.App + " " + EmergencyFlag + " " + c.Emergency
	case c.Name == Policy && c.Arg == "":
		return string(c.Name) + " " + c.App
	}
	switch specs[c.Name].args {
	case 1:
		return string(c.Name) + " " + c.App
	case 2:
		if c.Name == Rollback {
			return fmt.Sprintf("%s %s %d", c.Name, c.App, c.HistoryID)
		}
		return string(c.Name) + " " + c.App + " " + c.Arg
	}
	return string(c.Name)
}

// Validate says what is wrong with c, or nil; every Command that Parse
// returns without error is valid.
func (c Command) Validate() error {
	sp, ok := specs[c.Name]
	if !ok {
		return errorf("", "unknown command %q", c.Name)
	}
	if sp.args <= 0 {
		if c.App != "" || c.HistoryID != 0 || c.Arg != "" {
			return errorf(c.Name, "%s takes no arguments", c.Name)
		}
		return nil
	}
	if err := contract.ValidateAppName(c.App); err != nil {
		return errorf(c.Name, "%v", err)
	}
	if c.Name == Rollback && c.HistoryID <= 0 {
		return errorf(c.Name, "rollback needs a positive history id")
	}
	if c.Name != Rollback && c.HistoryID != 0 {
		return errorf(c.Name, "only rollback takes a history id")
	}
	if c.Name == AutoSync && c.Arg != "on" && c.Arg != "off" {
		return errorf(c.Name, "autosync takes on or off")
	}
	if c.Name == Policy && c.Arg != "" && policyAction(c.Arg) == "" {
		return errorf(c.Name, "policy takes an action: sync, rollback, autosync_on or autosync_off")
	}
	if c.Name != AutoSync && c.Name != Policy && c.Arg != "" {
		return errorf(c.Name, "only autosync takes on or off")
	}
	if c.Emergency != "" && (c.Name != Sync || strings.TrimSpace(c.Emergency) != c.Emergency) {
		return errorf(c.Name, "only sync takes %s, followed by a reason", EmergencyFlag)
	}
	return nil
}

// Parse reads one command from text as Slack delivers it: a mention's text
// (with the bot's `<@U…>` token anywhere in it) or a slash command's text.
// Empty text, or nothing but mentions, is help. The returned error is an
// *Error whose message says what was wrong.
func Parse(text string) (Command, error) {
	if len(text) > MaxTextLen {
		return Command{}, errorf("", "that message is %d characters long; a command is a few words, e.g. %s", len(text), specs[Sync].example)
	}
	words := tokens(text)
	if len(words) == 0 {
		return Command{Name: Help}, nil
	}
	word := strings.ReplaceAll(words[0], "-", "_")
	name := Name(word)
	if !name.Known() {
		alias, ok := aliases[word]
		if !ok {
			return Command{}, unknown(words[0])
		}
		name = alias
	}
	sp := specs[name]
	args := words[1:]
	var reason string
	if i := slicesIndexFlag(args); i >= 0 {
		if name != Sync {
			return Command{}, errorf(name, "only sync takes %s (a break-glass sync): write sync APP %s REASON", EmergencyFlag, EmergencyFlag)
		}
		if reason = emergencyReason(text); reason == "" {
			return Command{}, errorf(name, "%s needs a reason after it, for the audit: write sync APP %s REASON, e.g. sync guestbook %s INC-4411 checkout is down", EmergencyFlag, EmergencyFlag, EmergencyFlag)
		}
		args = args[:i]
	}
	if sp.args < 0 {
		return Command{Name: name}, nil
	}
	if len(args) > sp.args {
		extra := strings.Join(args[sp.args:], " ")
		if sp.args == 0 {
			return Command{}, errorf(name, "%s takes no arguments, but got %q: write just %s", name, extra, sp.usage)
		}
		return Command{}, errorf(name, "too many words after %s: %q is extra. Write %s, e.g. %s", name, extra, sp.usage, sp.example)
	}
	if len(args) == 0 && sp.args > 0 {
		return Command{}, errorf(name, "%s needs an app name: write %s, e.g. %s", name, sp.usage, sp.example)
	}
	c := Command{Name: name}
	if sp.args == 0 {
		return c, nil
	}
	switch name {
	case Rollback:
		if len(args) < 2 {
			return Command{}, errorf(name, "rollback needs the history id to go back to: write %s, e.g. rollback %s 3 (`rollback_revisions %s` lists the ids)", sp.usage, safeApp(args[0]), safeApp(args[0]))
		}
		id, err := historyID(args[1])
		if err != nil {
			return Command{}, errorf(name, "%q is not a history id: it must be a positive whole number from `rollback_revisions %s`, e.g. rollback %s 3", args[1], safeApp(args[0]), safeApp(args[0]))
		}
		c.App, c.HistoryID = args[0], id
	case AutoSync:
		if len(args) < 2 {
			return Command{}, errorf(name, "autosync needs on or off after the app: write %s, e.g. autosync %s off", sp.usage, safeApp(args[0]))
		}
		app, sw := args[0], onOff(args[1])
		if sw == "" {
			// "autosync off guestbook" is clear enough to accept.
			if rev := onOff(args[0]); rev != "" {
				app, sw = args[1], rev
			}
		}
		if sw == "" {
			return Command{}, errorf(name, "autosync takes on or off, not %q: write %s, e.g. autosync %s off", args[1], sp.usage, safeApp(args[0]))
		}
		c.App, c.Arg = app, sw
	case Policy:
		c.App = args[0]
		if len(args) == 2 {
			if c.Arg = policyAction(args[1]); c.Arg == "" {
				return Command{}, errorf(name, "%q is not an action: write %s, e.g. policy %s rollback (actions: sync, rollback, autosync_on, autosync_off)", args[1], sp.usage, safeApp(args[0]))
			}
		}
	default:
		c.App = args[0]
	}
	if err := contract.ValidateAppName(c.App); err != nil {
		return Command{}, errorf(name, "%v", err)
	}
	c.Emergency = reason
	return c, nil
}

// policyAction reads the action `policy` asks about ("" if none).
func policyAction(s string) string {
	switch strings.ReplaceAll(s, "-", "_") {
	case "sync":
		return string(contract.ActionSync)
	case "rollback":
		return string(contract.ActionRollback)
	case "autosync_on", "autosync":
		return string(contract.ActionAutoSyncOn)
	case "autosync_off":
		return string(contract.ActionAutoSyncOff)
	}
	return ""
}

// slicesIndexFlag is where EmergencyFlag is among args (-1: absent);
// "—emergency" counts, as a Mac turns -- into a dash.
func slicesIndexFlag(args []string) int {
	for i, a := range args {
		if a == EmergencyFlag || a == "—emergency" || a == "–emergency" {
			return i
		}
	}
	return -1
}

// emergencyReason is the text after the flag as typed (case kept, Slack's
// entities resolved, spaces collapsed).
func emergencyReason(text string) string {
	m := emergencyRE.FindStringSubmatch(htmlUnescaper.Replace(resolveEntities(text)))
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(m[1]), " ")
}

var emergencyRE = regexp.MustCompile(`(?is)(?:--|—|–)emergency(?:\s(.*))?$`)

// historyID reads a positive id, allowing a leading '#' ("#3").
func historyID(s string) (int64, error) {
	s = strings.TrimPrefix(s, "#")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("not a positive integer")
	}
	return id, nil
}

func onOff(s string) string {
	switch s {
	case "on", "enable", "enabled", "true", "yes":
		return "on"
	case "off", "disable", "disabled", "false", "no":
		return "off"
	}
	return ""
}

// safeApp is the app word for an example in an error message: the user's if
// it is a valid name, else a placeholder, so no junk is echoed into advice.
func safeApp(s string) string {
	if contract.ValidateAppName(s) == nil {
		return s
	}
	return "APP"
}

// unknown explains an unknown command word, suggesting the closest command.
func unknown(word string) *Error {
	shown := word
	if len(shown) > 40 {
		shown = shown[:40] + "…"
	}
	msg := fmt.Sprintf("I don't know the command %q.", shown)
	if best := closest(strings.ReplaceAll(word, "-", "_")); best != "" {
		msg += fmt.Sprintf(" Did you mean `%s`?", specs[best].usage)
	}
	return &Error{msg: msg}
}

// closest returns the command within edit distance 2 of word, or "".
func closest(word string) Name {
	if len(word) > 40 {
		return ""
	}
	best, bestD := Name(""), 3
	for _, n := range Names {
		if d := distance(word, string(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes (command
// words are ASCII).
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
