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
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

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
	// Project is the Argo CD project list_apps is limited to ("" for all).
	Project string
	// Count is history's N (0: the default).
	Count int
	// For or Until is how long a freeze lasts; Reason is why, as typed.
	For    time.Duration
	Until  time.Time
	Reason string
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

// aliases are other spellings people use for a command word, after
// lowercasing and turning '-' into '_'.
var aliases = map[string]Name{
	"commands":          Help,
	"listapps":          ListApps,
	"apps":              ListApps,
	"rollbackrevisions": RollbackRevisions,
	"revisions":         RollbackRevisions,
	"auto_sync":         AutoSync,
	"log":               Logs,
}

// Usage is how to write the command, e.g. "rollback APP ID"; "" if unknown.
func (n Name) Usage() string { sp, _ := Lookup(n); return sp.Usage }

// Known reports whether n is one of Names.
func (n Name) Known() bool { _, ok := specs[n]; return ok }

// Mutating reports whether the command changes an app (and so starts a
// DeployWorkflow that waits for an approval).
func (c Command) Mutating() bool { return c.Spec().Kind == Change }

// Action is the DeployWorkflow action of a mutating command; "" otherwise.
func (c Command) Action() contract.Action {
	if sp := c.Spec(); sp.action != nil {
		return sp.action(c)
	}
	return ""
}

// String is the command in its canonical form; Parse(c.String()) == c for
// every valid c.
func (c Command) String() string {
	if sp := c.Spec(); sp.format != nil {
		return sp.format(c)
	}
	words := []string{string(c.Name)}
	for _, p := range c.Spec().Params {
		switch w := c.param(p); {
		case w != "":
			words = append(words, w)
		case !p.optional():
			words = append(words, "?")
		}
	}
	if c.Emergency != "" {
		words = append(words, EmergencyFlag, c.Emergency)
	}
	return strings.Join(words, " ")
}

// param is the word c holds for p ("" when it holds none).
func (c Command) param(p Param) string {
	switch p {
	case ParamApp:
		return c.App
	case ParamHistoryID, ParamRollbackTo:
		if c.HistoryID == 0 {
			return ""
		}
		return strconv.FormatInt(c.HistoryID, 10)
	case ParamOnOff, ParamAction:
		return c.Arg
	case ParamProject:
		return c.Project
	case ParamCount:
		if c.Count == 0 {
			return ""
		}
		return strconv.Itoa(c.Count)
	}
	return ""
}

// Validate says what is wrong with c, or nil; every Command that Parse
// returns without error is valid.
func (c Command) Validate() error {
	sp, ok := specs[c.Name]
	if !ok {
		return errorf("", "unknown command %q", c.Name)
	}
	if sp.check != nil {
		if err := sp.check(c); err != nil {
			return err
		}
		return nil
	}
	if c.For != 0 || !c.Until.IsZero() || c.Reason != "" {
		return errorf(c.Name, "only freeze takes how long and why")
	}
	has := map[Param]bool{}
	for _, p := range sp.Params {
		has[p] = true
	}
	switch {
	case !has[ParamApp] && c.App != "", !has[ParamHistoryID] && !has[ParamRollbackTo] && c.HistoryID != 0,
		!has[ParamOnOff] && !has[ParamAction] && c.Arg != "", !has[ParamProject] && c.Project != "",
		!has[ParamCount] && c.Count != 0:
		return errorf(c.Name, "%s takes only %s", c.Name, sp.Usage)
	case c.Emergency != "" && (c.Name != Sync || strings.TrimSpace(c.Emergency) != c.Emergency):
		return errorf(c.Name, "only sync takes %s, followed by a reason", EmergencyFlag)
	}
	for _, p := range sp.Params {
		w := c.param(p)
		if w == "" && p.optional() {
			continue
		}
		if _, err := c.read(p, w); err != nil {
			return err
		}
	}
	return nil
}

// Parse reads one command from text as Slack delivers it: a mention's text
// (with the bot's `<@U…>` token anywhere in it) or a slash command's text.
// Empty text, or nothing but mentions, is help. The returned error is an
// *Error whose message says what was wrong.
func Parse(text string) (Command, error) {
	if len(text) > MaxTextLen {
		return Command{}, errorf("", "that message is %d characters long; a command is a few words, e.g. %s", len(text), specs[Sync].Example)
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
	if sp.AnyArgs {
		return Command{Name: name}, nil
	}
	if sp.parse != nil {
		c := Command{Name: name}
		if err := sp.parse(&c, args, text); err != nil {
			return Command{}, err
		}
		return c, nil
	}
	if len(args) > len(sp.Params) {
		extra := strings.Join(args[len(sp.Params):], " ")
		if len(sp.Params) == 0 {
			return Command{}, errorf(name, "%s takes no arguments, but got %q: write just %s", name, extra, sp.Usage)
		}
		return Command{}, errorf(name, "too many words after %s: %q is extra. Write %s, e.g. %s", name, extra, sp.Usage, sp.Example)
	}
	// "autosync off guestbook" is clear enough to accept.
	if len(args) == 2 && len(sp.Params) == 2 && sp.Params[1] == ParamOnOff && onOff(args[1]) == "" && onOff(args[0]) != "" {
		args[0], args[1] = args[1], args[0]
	}
	c := Command{Name: name}
	for i, p := range sp.Params {
		if i >= len(args) {
			if p.optional() {
				continue
			}
			return Command{}, c.missing(p, args)
		}
		v, err := c.read(p, args[i])
		if err != nil {
			return Command{}, err
		}
		c.set(p, v)
	}
	c.Emergency = reason
	return c, nil
}

// read checks one argument word for p and returns it as it is kept.
func (c Command) read(p Param, w string) (string, error) {
	sp := specs[c.Name]
	switch p {
	case ParamApp:
		if err := contract.ValidateAppName(w); err != nil {
			return "", errorf(c.Name, "%v", err)
		}
		return w, nil
	case ParamHistoryID, ParamRollbackTo:
		id, err := historyID(w)
		if err != nil {
			return "", errorf(c.Name, "%q is not a history id: it must be a positive whole number from `rollback_revisions %s`, e.g. %s %s 3", w, safeApp(c.App), c.Name, safeApp(c.App))
		}
		return strconv.FormatInt(id, 10), nil
	case ParamOnOff:
		if sw := onOff(w); sw != "" {
			return sw, nil
		}
		return "", errorf(c.Name, "%s takes on or off, not %q: write %s, e.g. %s %s off", c.Name, w, sp.Usage, c.Name, safeApp(c.App))
	case ParamAction:
		if a := policyAction(w); a != "" {
			return a, nil
		}
		return "", errorf(c.Name, "%q is not an action: write %s, e.g. %s %s rollback (actions: sync, rollback, autosync_on, autosync_off)", w, sp.Usage, c.Name, safeApp(c.App))
	case ParamProject:
		if err := contract.ValidateProjectName(w); err != nil {
			return "", errorf(c.Name, "%v: write %s, e.g. %s", err, sp.Usage, sp.Example)
		}
		return w, nil
	case ParamCount:
		n, err := strconv.Atoi(strings.TrimPrefix(w, "#"))
		if err != nil || n < 1 || n > MaxCount {
			return "", errorf(c.Name, "%q is not a number from 1 to %d: write %s, e.g. %s", w, MaxCount, sp.Usage, sp.Example)
		}
		return strconv.Itoa(n), nil
	}
	return "", errorf(c.Name, "%s takes no %q", c.Name, w)
}

// set keeps an argument read for p.
func (c *Command) set(p Param, v string) {
	switch p {
	case ParamApp:
		c.App = v
	case ParamHistoryID, ParamRollbackTo:
		c.HistoryID, _ = strconv.ParseInt(v, 10, 64)
	case ParamOnOff, ParamAction:
		c.Arg = v
	case ParamProject:
		c.Project = v
	case ParamCount:
		c.Count, _ = strconv.Atoi(v)
	}
}

// missing explains a required argument that was not written.
func (c Command) missing(p Param, args []string) *Error {
	sp := specs[c.Name]
	switch p {
	case ParamApp:
		return errorf(c.Name, "%s needs an app name: write %s, e.g. %s", c.Name, sp.Usage, sp.Example)
	case ParamHistoryID:
		return errorf(c.Name, "%s needs the history id to go back to: write %s, e.g. %s %s 3 (`rollback_revisions %s` lists the ids)", c.Name, sp.Usage, c.Name, safeApp(args[0]), safeApp(args[0]))
	case ParamOnOff:
		return errorf(c.Name, "%s needs on or off after the app: write %s, e.g. %s %s off", c.Name, sp.Usage, c.Name, safeApp(args[0]))
	}
	return errorf(c.Name, "%s is incomplete: write %s, e.g. %s", c.Name, sp.Usage, sp.Example)
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
		msg += fmt.Sprintf(" Did you mean `%s`?", specs[best].Usage)
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
