package command

import "github.com/deploybot/deploybot/internal/contract"

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
	History           Name = "history"
	Diff              Name = "diff"
	Freeze            Name = "freeze"
	Unfreeze          Name = "unfreeze"
	Freezes           Name = "freezes"
)

// Kind says what carries a command out.
type Kind int

const (
	// Answered commands are answered by the gateway from what it holds
	// (the command table, the approval policy): nothing is started.
	Answered Kind = iota + 1
	// Read commands start a read-only workflow that reads Argo CD and
	// replies; nobody approves them.
	Read
	// Change commands start DeployWorkflow, which waits for approval.
	Change
)

// Param is one argument a command takes, in the order it is written.
type Param int

const (
	// ParamApp is APP, required: an Argo CD app, namespace/app or app@instance.
	ParamApp Param = iota + 1
	// ParamHistoryID is ID, required: a positive Argo CD history id.
	ParamHistoryID
	// ParamOnOff is on|off, required.
	ParamOnOff
	// ParamAction is [ACTION], optional: sync, rollback, autosync_on, autosync_off.
	ParamAction
	// ParamProject is [PROJECT], optional: an Argo CD project.
	ParamProject
	// ParamCount is [N], optional: how many, from 1 to MaxCount.
	ParamCount
	// ParamRollbackTo is [ID], optional: a history id to preview a
	// rollback to (diff), kept in HistoryID.
	ParamRollbackTo
)

// MaxCount bounds [N] (history's runs): one Slack message's worth.
const MaxCount = 50

func (p Param) optional() bool {
	return p == ParamAction || p == ParamProject || p == ParamCount || p == ParamRollbackTo
}

// Spec is one row of the command table: everything the parser, the help,
// the gateway, the worker and the tests know about a command.
type Spec struct {
	Name    Name
	Usage   string // e.g. "rollback APP ID"
	Example string // e.g. "rollback guestbook 3"
	Summary string // one line for help
	Params  []Param
	// AnyArgs commands ignore whatever follows their word (help).
	AnyArgs bool
	Kind    Kind
	// Workflow is the workflow type that carries out a Read or Change
	// command; the worker registers every one (a test holds it to that).
	Workflow string
	// action is the DeployWorkflow action of a Change command.
	action func(Command) contract.Action
	// input sets the command's own fields of a Read workflow's input.
	input func(Command, Settings, *contract.CommandInput)
	// parse, format and check replace the positional Params for a command
	// whose grammar is not one word per argument (freeze).
	parse  func(c *Command, args []string, text string) *Error
	format func(Command) string
	check  func(Command) *Error
}

// Settings are what a read workflow's input takes from the gateway's
// configuration.
type Settings struct {
	LogTailLines   int64    // ARGOCD_LOG_TAIL_LINES
	RollbackFields []string // ROLLBACK_TABLE_FIELDS
}

// Table is every command deploybot understands, in the order help lists
// them. Adding a command is a row here, its workflow and its words in
// slackui.
var Table = []Spec{
	{Name: Help, Usage: "help", Example: "help", Summary: "this list; anyone may use it",
		AnyArgs: true, Kind: Answered},
	{Name: ListApps, Usage: "list_apps [PROJECT]", Example: "list_apps payments",
		Summary: "every app (or PROJECT's) with its sync status, health, image tags and target revision",
		Params:  []Param{ParamProject}, Kind: Read, Workflow: contract.WorkflowListApps},
	{Name: Status, Usage: "status APP", Example: "status guestbook",
		Summary: "sync status and health, the current operation, and any deploybot run in flight",
		Params:  []Param{ParamApp}, Kind: Read, Workflow: contract.WorkflowAppStatus},
	{Name: Sync, Usage: "sync APP", Example: "sync guestbook",
		Summary: "sync APP to its target revision, after an approval, and follow it until Healthy",
		Params:  []Param{ParamApp}, Kind: Change, Workflow: contract.WorkflowDeploy,
		action: func(Command) contract.Action { return contract.ActionSync }},
	{Name: Diff, Usage: "diff APP [ID]", Example: "diff guestbook",
		Summary: "what a sync of APP (or its rollback to history entry ID) would change: resources created, updated, to prune and their fields, as a file",
		Params:  []Param{ParamApp, ParamRollbackTo}, Kind: Read, Workflow: contract.WorkflowDiff,
		input: func(c Command, _ Settings, in *contract.CommandInput) { in.HistoryID = c.HistoryID }},
	{Name: RollbackRevisions, Usage: "rollback_revisions APP", Example: "rollback_revisions guestbook",
		Summary: "APP's deployment history, with the ids rollback takes",
		Params:  []Param{ParamApp}, Kind: Read, Workflow: contract.WorkflowRollbackRevisions,
		input: func(_ Command, s Settings, in *contract.CommandInput) {
			in.RollbackFields = append([]string(nil), s.RollbackFields...)
		}},
	{Name: Rollback, Usage: "rollback APP ID", Example: "rollback guestbook 3",
		Summary: "roll APP back to history entry ID, after an approval",
		Params:  []Param{ParamApp, ParamHistoryID}, Kind: Change, Workflow: contract.WorkflowDeploy,
		action: func(Command) contract.Action { return contract.ActionRollback }},
	{Name: Logs, Usage: "logs APP", Example: "logs guestbook",
		Summary: "the last lines of every pod of APP, as a file",
		Params:  []Param{ParamApp}, Kind: Read, Workflow: contract.WorkflowLogs,
		input: func(_ Command, s Settings, in *contract.CommandInput) { in.TailLines = s.LogTailLines }},
	{Name: AutoSync, Usage: "autosync APP on|off", Example: "autosync guestbook off",
		Summary: "turn Argo CD auto-sync of APP on or off, after an approval",
		Params:  []Param{ParamApp, ParamOnOff}, Kind: Change, Workflow: contract.WorkflowDeploy,
		action: func(c Command) contract.Action {
			if c.Arg == "on" {
				return contract.ActionAutoSyncOn
			}
			return contract.ActionAutoSyncOff
		}},
	{Name: History, Usage: "history APP [N]", Example: "history guestbook 5",
		Summary: "the last N (default 10) deploybot runs of APP: who asked, who approved, action, revisions, outcome, duration, link",
		Params:  []Param{ParamApp, ParamCount}, Kind: Answered},
	{Name: Freeze, Usage: "freeze APP|project:NAME|all for 2h|until 2026-12-24 REASON", Example: "freeze payments for 2h quarter-end close",
		Summary: "refuse every change of APP (or of a project's apps, or of all) until then, saying why and who froze it; break-glass syncs may override",
		Kind:    Answered},
	{Name: Unfreeze, Usage: "unfreeze APP|project:NAME|all", Example: "unfreeze payments",
		Summary: "lift that freeze now", Kind: Answered},
	{Name: Freezes, Usage: "freezes", Example: "freezes", Summary: "the freezes in force: target, until, reason, who froze it", Kind: Answered},
	{Name: Policy, Usage: "policy APP [ACTION]", Example: "policy guestbook rollback",
		Summary: "who may ask for each change of APP (or just ACTION: sync, rollback, autosync_on, autosync_off) and whose approvals it needs",
		Params:  []Param{ParamApp, ParamAction}, Kind: Answered},
}

// The freeze commands' own grammar (freeze.go); set here, as their parser
// reads the table.
func init() {
	for _, n := range []Name{Freeze, Unfreeze} {
		sp := specs[n]
		sp.parse, sp.format, sp.check = parseFreeze, formatFreeze, Command.checkFreeze
	}
}

// Names lists every command in the order help shows them.
var Names = func() []Name {
	out := make([]Name, len(Table))
	for i, sp := range Table {
		out[i] = sp.Name
	}
	return out
}()

var specs = func() map[Name]*Spec {
	m := make(map[Name]*Spec, len(Table))
	for i := range Table {
		m[Table[i].Name] = &Table[i]
	}
	return m
}()

// Lookup is n's row of the table.
func Lookup(n Name) (Spec, bool) {
	sp, ok := specs[n]
	if !ok {
		return Spec{}, false
	}
	return *sp, true
}

// Spec is c's row of the table (zero for an unknown name).
func (c Command) Spec() Spec { sp, _ := Lookup(c.Name); return sp }

// Workflows are the workflow types the command table starts, each once.
func Workflows() []string {
	var out []string
	seen := map[string]bool{}
	for _, sp := range Table {
		if sp.Workflow != "" && !seen[sp.Workflow] {
			seen[sp.Workflow] = true
			out = append(out, sp.Workflow)
		}
	}
	return out
}

// ReadInput is the input of c's read workflow: base (who asked, where to
// reply, links) with the command's own fields.
func (c Command) ReadInput(base contract.CommandInput, s Settings) contract.CommandInput {
	in := base
	in.App, in.Command = c.App, c.String()
	if c.Project != "" {
		in.Projects = []string{c.Project}
	}
	if sp := c.Spec(); sp.input != nil {
		sp.input(c, s, &in)
	}
	return in
}

// DeployRequest is the request of c's DeployWorkflow: base (who asked,
// where) with the app, the action and the history id.
func (c Command) DeployRequest(base contract.DeployRequest) contract.DeployRequest {
	r := base
	r.App, r.Action, r.HistoryID = c.App, c.Action(), c.HistoryID
	return r
}
