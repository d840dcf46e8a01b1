// Package policy reads APPROVAL_POLICY_FILE: approval rules per Argo CD app
// and per SonarQube project, which say who may ask for a change, whose
// approvals it needs (N of M, from Slack users and user groups), and how
// long it waits. The gateway picks a rule when a request arrives (ForDeploy,
// ForGate) and passes it in the run's input, so a run keeps the rule it
// began with.
//
// The file is YAML, read strictly: an unknown field, a wrong type, a user
// that is not a Slack id or a group that is not declared is an error that
// names the file, the line and an example, and every error of the file is
// reported at once (Load returns them joined, each an *Error).
//
//	groups:                      # the Slack user groups rules name: handle → id (S…)
//	  platform: S0PLATFORM
//	  payments-leads: S0PAYLEADS
//	  payments-devs: S0PAYDEVS
//	rules:                       # first match wins; the environment's rule comes last
//	  - name: dev-apps                              # required, unique
//	    match: {apps: ["*-dev"], actions: [sync]}   # every key optional; a list matches any of its values
//	    requesters: {everyone: true}
//	    approval: none                              # runs at once, audited
//	  - name: payments-prod
//	    match: {instances: [prod], projects: [payments]}
//	    requesters: {users: [U0ALICE], groups: [payments-devs]}
//	    approvals:                                  # every requirement must be met
//	      - {count: 1, from: {groups: [platform]}}
//	      - {count: 1, from: {groups: [payments-leads]}}
//	    allowSelfApproval: false
//	    allowSameApprover: false                    # may one person give two of the N
//	    timeout: 2h
//	    reminders: [30m, 90m]
//	  - name: security
//	    match: {sonarProjects: ["deploybot:*"]}
//	    approvals: [{count: 1, from: {users: [U0BOB]}}]
//
// Match keys of deploy rules (each a list; a rule without a key matches any
// value of it, a rule without match every deploy request):
//
//   - instances: Argo CD instances of ARGOCD_INSTANCES_FILE, by name. The
//     default instance is written by its name too: a rule for prod also
//     matches an app named without @ when prod is the default
//     (Defaults.DefaultInstance). With ARGOCD_URL alone the one Argo CD has
//     no name, so leave instances out.
//   - projects: Argo CD AppProjects, exactly.
//   - apps: globs (path.Match: *, ?, [a-z]; * does not cross /) on the app
//     as deploybot writes it: guestbook in Argo CD's own namespace,
//     team-a/guestbook in another, never with @instance. "*-dev" matches
//     web-dev but not team-a/web-dev ("*/*-dev" does). Quote globs that
//     start with *: YAML reads *x as an alias.
//   - actions: sync, rollback, autosync_on, autosync_off.
//
// A rule with sonarProjects (globs on the SonarQube project key) is a
// quality-gate rule: it matches quality gates only, may have no other match
// key, no requesters (SonarQube raises them), no allowSelfApproval and no
// approval: none (accepting a security risk always needs an approver).
// Every other rule matches deploy requests only.
//
// What a rule leaves out comes from the environment's rule of its kind
// (Defaults): requesters are ALLOWED_USERS, approvals are one of APPROVERS
// (SAST_APPROVERS for quality gates), allowSelfApproval is
// ALLOW_SELF_APPROVAL, timeout is APPROVAL_TIMEOUT (SAST_APPROVAL_TIMEOUT).
// allowSameApprover defaults to false. Reminders left out are none for
// deploy rules and one at half the timeout for quality-gate rules, as
// without a file; reminders: [] is none. approval: none runs the action at
// once (audited) and takes no approvals, reminders, timeout,
// allowSelfApproval or allowSameApprover.
//
// Users are Slack member ids (U…, W…); groups are handles declared under
// groups:, whose ids the approval asks Slack for members
// (usergroups.users.list). requesters: {everyone: true} lets anyone in the
// workspace ask; approvers are always named.
//
// A rule after one that matches everything of its kind (no match keys, or
// sonarProjects: ["*"]) could never match, and is an error.
package policy

import (
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/deploybot/deploybot/internal/contract"
)

// Variable is the environment variable naming the policy file; every error
// starts with it.
const Variable = "APPROVAL_POLICY_FILE"

// Defaults are what applies when no rule matches, and fill what a rule
// leaves out: the rules of the environment settings.
type Defaults struct {
	// Deploy is contract.DefaultDeployRule (APPROVERS, ALLOWED_USERS, …).
	Deploy contract.ApprovalRule
	// Gate is contract.DefaultGateRule (SAST_APPROVERS, …).
	Gate contract.ApprovalRule
	// DefaultInstance is the name of the Argo CD instance an app named
	// without @ is on (ArgoCDInstances.Default); a DeployRequest with no
	// Instance is matched as this one. "" with ARGOCD_URL alone.
	DefaultInstance string
	// Instances, if not nil, are the instances rules may name
	// (ArgoCDInstances.Names(): [""] with ARGOCD_URL alone); naming another
	// is an error. Nil: not checked.
	Instances []string
}

// DeployRequest is what a deploy rule is matched against.
type DeployRequest struct {
	// Instance is the Argo CD instance; "" is the default one. An App that
	// still carries @instance supplies it when Instance is "".
	Instance string
	// Project is the app's AppProject. A rule naming projects never matches
	// "", so look the project up before matching.
	Project string
	// App is the app as deploybot writes it: guestbook, team-a/guestbook.
	App    string
	Action contract.Action
}

// Match is what a rule applies to. Empty lists match anything.
type Match struct {
	Instances     []string          `json:"instances,omitempty"`
	Projects      []string          `json:"projects,omitempty"`
	Apps          []string          `json:"apps,omitempty"`
	Actions       []contract.Action `json:"actions,omitempty"`
	SonarProjects []string          `json:"sonarProjects,omitempty"`
}

// Gate says whether it matches quality gates (sonarProjects) rather than
// deploy requests.
func (m Match) Gate() bool { return len(m.SonarProjects) > 0 }

// All says whether it matches every request of its kind.
func (m Match) All() bool {
	if m.Gate() {
		return slices.Contains(m.SonarProjects, "*")
	}
	return len(m.Instances) == 0 && len(m.Projects) == 0 && len(m.Apps) == 0 && len(m.Actions) == 0
}

// String reads "instances=prod projects=payments", "any deploy request".
func (m Match) String() string {
	var parts []string
	add := func(key string, vs []string) {
		if len(vs) > 0 {
			parts = append(parts, key+"="+strings.Join(vs, ","))
		}
	}
	add("instances", m.Instances)
	add("projects", m.Projects)
	add("apps", m.Apps)
	acts := make([]string, len(m.Actions))
	for i, a := range m.Actions {
		acts[i] = string(a)
	}
	add("actions", acts)
	add("sonarProjects", m.SonarProjects)
	if len(parts) == 0 {
		return "any deploy request"
	}
	return strings.Join(parts, " ")
}

func (m Match) deploy(r DeployRequest) bool {
	if m.Gate() {
		return false
	}
	if len(m.Instances) > 0 && !slices.Contains(m.Instances, r.Instance) {
		return false
	}
	if len(m.Projects) > 0 && (r.Project == "" || !slices.Contains(m.Projects, r.Project)) {
		return false
	}
	if len(m.Apps) > 0 && !globs(m.Apps, r.App) {
		return false
	}
	return len(m.Actions) == 0 || slices.Contains(m.Actions, r.Action)
}

func (m Match) gate(project string) bool { return m.Gate() && globs(m.SonarProjects, project) }

func globs(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// Rule is one rule of the file: what it matches and the approval rule it
// gives (Name and Line set, what the file left out filled from Defaults).
type Rule struct {
	Match Match                 `json:"match"`
	Rule  contract.ApprovalRule `json:"rule"`
}

// Policy is a loaded APPROVAL_POLICY_FILE.
type Policy struct {
	file       string
	defaults   Defaults
	rules      []Rule
	breakGlass *BreakGlass
}

// Load reads the policy file at path. An empty path is no file: the
// Policy then has no rules and gives the defaults, exactly as deploybot
// behaves without APPROVAL_POLICY_FILE. The error joins every problem of
// the file, each an *Error naming the file and line.
func Load(path string, defaults Defaults) (*Policy, error) {
	if path == "" {
		return &Policy{defaults: defaults}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; point it at the YAML file of approval rules, e.g. /etc/deploybot/approval-policy.yaml", Variable, err)
	}
	return Parse(path, b, defaults)
}

// Parse reads a policy file's content; file names it in errors.
func Parse(file string, data []byte, defaults Defaults) (*Policy, error) {
	p := &parser{file: file, d: defaults, groups: map[string]contract.UserGroup{}}
	pol := &Policy{file: file, defaults: defaults}
	pol.rules = p.parse(data)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	pol.breakGlass = p.breakGlass
	return pol, nil
}

// BreakGlassRuleName names the rule of a break-glass sync.
const BreakGlassRuleName = "break-glass"

// BreakGlass is the file's breakGlass: who may `sync APP --emergency
// REASON` and approve one (Rule), and who is emailed about each (EmailTo).
type BreakGlass struct {
	Rule    contract.ApprovalRule `json:"rule"`
	EmailTo []string              `json:"emailTo"`
}

// BreakGlass is the file's break-glass, if it has one.
func (p *Policy) BreakGlass() (BreakGlass, bool) {
	if p == nil || p.breakGlass == nil {
		return BreakGlass{}, false
	}
	bg := *p.breakGlass
	bg.Rule = cloneRule(bg.Rule)
	bg.EmailTo = slices.Clone(bg.EmailTo)
	return bg, true
}

// File is the path the policy was read from; "" for none.
func (p *Policy) File() string {
	if p == nil {
		return ""
	}
	return p.file
}

// ForDeploy is the approval rule of a deploy request: the first deploy rule
// that matches, else Defaults.Deploy. A nil *Policy knows no defaults and
// gives a rule nobody may request or approve (use Load("", defaults) for
// an install without a file).
func (p *Policy) ForDeploy(r DeployRequest) contract.ApprovalRule {
	if p == nil {
		return contract.ApprovalRule{Name: contract.DefaultRuleName}
	}
	r = p.normalize(r)
	for _, rule := range p.rules {
		if rule.Match.deploy(r) {
			return cloneRule(rule.Rule)
		}
	}
	return cloneRule(p.defaults.Deploy)
}

// ForDeployAnyProject are the rules a deploy request may get before its
// app's AppProject is known (r.Project is ignored): in order, every rule
// that matches but for its projects, up to the first that applies to any
// project, else ending with Defaults.Deploy. Their For(project) is
// ForDeploy with that project.
func (p *Policy) ForDeployAnyProject(r DeployRequest) contract.ProjectRules {
	if p == nil {
		return contract.ProjectRules{{Rule: contract.ApprovalRule{Name: contract.DefaultRuleName}}}
	}
	r = p.normalize(r)
	var out contract.ProjectRules
	for _, rule := range p.rules {
		m := rule.Match
		projects := m.Projects
		m.Projects = nil
		if !m.deploy(r) {
			continue
		}
		out = append(out, contract.ProjectRule{Projects: slices.Clone(projects), Rule: cloneRule(rule.Rule)})
		if len(projects) == 0 {
			return out
		}
	}
	return append(out, contract.ProjectRule{Rule: cloneRule(p.defaults.Deploy)})
}

// ForProject are the deploy rules a change of some app of project may get,
// on any instance, for any action: in order, every deploy rule whose
// projects hold project or that names none, up to the first that matches
// every change of the project's apps, else ending with Defaults.Deploy.
// A freeze of the project holds back the changes of all of them.
func (p *Policy) ForProject(project string) []contract.ApprovalRule {
	return p.deployRules(func(m Match) (Match, bool) {
		if len(m.Projects) > 0 && !slices.Contains(m.Projects, project) {
			return m, false
		}
		m.Projects = nil
		return m, true
	})
}

// DeployRules are the deploy rules some change may get: the file's deploy
// rules in order, then Defaults.Deploy unless one of them matches every
// deploy request. A freeze of all holds back the changes of all of them.
func (p *Policy) DeployRules() []contract.ApprovalRule {
	return p.deployRules(func(m Match) (Match, bool) { return m, true })
}

// deployRules are the deploy rules that may apply where match says, in
// order, up to the first whose match (as match leaves it) takes every
// request, else ending with Defaults.Deploy.
func (p *Policy) deployRules(match func(Match) (Match, bool)) []contract.ApprovalRule {
	if p == nil {
		return []contract.ApprovalRule{{Name: contract.DefaultRuleName}}
	}
	var out []contract.ApprovalRule
	for _, rule := range p.rules {
		if rule.Match.Gate() {
			continue
		}
		m, ok := match(rule.Match)
		if !ok {
			continue
		}
		out = append(out, cloneRule(rule.Rule))
		if m.All() {
			return out
		}
	}
	return append(out, cloneRule(p.defaults.Deploy))
}

// normalize takes the instance from app@instance, else the default one.
func (p *Policy) normalize(r DeployRequest) DeployRequest {
	if strings.Contains(r.App, "@") {
		app, inst := contract.SplitInstance(r.App)
		r.App = app
		if r.Instance == "" {
			r.Instance = inst
		}
	}
	if r.Instance == "" {
		r.Instance = p.defaults.DefaultInstance
	}
	return r
}

// ForGate is the approval rule of a failed quality gate of a SonarQube
// project: the first quality-gate rule whose sonarProjects match its key,
// else Defaults.Gate. A nil *Policy gives a rule nobody can approve.
func (p *Policy) ForGate(sonarProject string) contract.ApprovalRule {
	if p == nil {
		return contract.ApprovalRule{Name: contract.DefaultRuleName}
	}
	for _, rule := range p.rules {
		if rule.Match.gate(sonarProject) {
			return cloneRule(rule.Rule)
		}
	}
	return cloneRule(p.defaults.Gate)
}

// Rules are the file's rules in order, without the defaults.
func (p *Policy) Rules() []Rule {
	if p == nil {
		return nil
	}
	out := make([]Rule, len(p.rules))
	for i, r := range p.rules {
		out[i] = Rule{Match: r.Match, Rule: cloneRule(r.Rule)}
	}
	return out
}

// Defaults are the rules that apply when none of the file matches.
func (p *Policy) Defaults() Defaults {
	if p == nil {
		return Defaults{}
	}
	return p.defaults
}

func cloneRule(r contract.ApprovalRule) contract.ApprovalRule {
	cp := func(p contract.Principals) contract.Principals {
		return contract.Principals{Users: slices.Clone(p.Users), Groups: slices.Clone(p.Groups), Everyone: p.Everyone}
	}
	r.Requesters = cp(r.Requesters)
	r.Requires = slices.Clone(r.Requires)
	for i := range r.Requires {
		r.Requires[i].From = cp(r.Requires[i].From)
	}
	r.Reminders = slices.Clone(r.Reminders)
	return r
}

// TableHeader names the columns of Table.
var TableHeader = []string{"LINE", "RULE", "MATCH", "REQUESTERS", "APPROVALS", "SELF", "SAME APPROVER", "TIMEOUT", "REMINDERS"}

// Table is the effective policy, one row per rule in the order they are
// tried (columns as TableHeader), ending with the defaults for deploy
// requests and for quality gates.
func (p *Policy) Table() [][]string {
	var rows [][]string
	for _, r := range p.Rules() {
		rows = append(rows, row(strconv.Itoa(r.Rule.Line), r.Rule.Name, r.Match.String(), r.Match.Gate(), r.Rule))
	}
	if bg, ok := p.BreakGlass(); ok {
		rows = append(rows, row(strconv.Itoa(bg.Rule.Line), bg.Rule.Name, "sync APP --emergency REASON (emails "+strings.Join(bg.EmailTo, ", ")+")", false, bg.Rule))
	}
	d := p.Defaults()
	rows = append(rows,
		row("-", orDefault(d.Deploy.Name), "any other deploy request", false, d.Deploy),
		row("-", orDefault(d.Gate.Name), "any other quality gate", true, d.Gate))
	return rows
}

// WriteTable writes Table under TableHeader, aligned.
func (p *Policy) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range append([][]string{TableHeader}, p.Table()...) {
		if _, err := fmt.Fprintln(tw, strings.Join(r, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func orDefault(name string) string {
	if name == "" {
		return contract.DefaultRuleName
	}
	return name
}

func row(line, name, match string, gate bool, r contract.ApprovalRule) []string {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	requesters, self := Describe(r.Requesters), yesNo(r.AllowSelfApproval)
	if gate {
		requesters, self = "SonarQube", "-"
	}
	if r.NoApproval {
		return []string{line, name, match, requesters, "none (runs at once, audited)", "-", "-", "-", "-"}
	}
	reminders := "-"
	if len(r.Reminders) > 0 {
		ds := make([]string, len(r.Reminders))
		for i, d := range r.Reminders {
			ds[i] = contract.FormatDuration(d)
		}
		reminders = strings.Join(ds, ", ")
	}
	return []string{line, name, match, requesters, Approvals(r), self, yesNo(r.AllowSameApprover), contract.FormatDuration(r.Timeout), reminders}
}

// Approvals reads "1 of @platform + 1 of @payments-leads", "2 of (U0BOB,
// U0CAROL)", "none" for approval: none and "nobody can approve" for a rule
// without requirements.
func Approvals(r contract.ApprovalRule) string {
	if r.NoApproval {
		return "none"
	}
	if len(r.Requires) == 0 {
		return "nobody can approve"
	}
	parts := make([]string, len(r.Requires))
	for i, q := range r.Requires {
		from := Describe(q.From)
		if len(q.From.Users)+len(q.From.Groups) > 1 {
			from = "(" + from + ")"
		}
		parts[i] = fmt.Sprintf("%d of %s", q.Count, from)
	}
	return strings.Join(parts, " + ")
}

// Describe reads "everyone", "U0ALICE, @payments-devs" or "nobody".
func Describe(p contract.Principals) string {
	if p.Everyone {
		return "everyone"
	}
	names := append(slices.Clone(p.Users), p.Handles()...)
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, ", ")
}

// Error is one problem of the policy file.
type Error struct {
	File string
	// Line is 1-based; 0 when the problem has no line.
	Line int
	// Msg says what is wrong and gives an example.
	Msg string
}

// Error reads "APPROVAL_POLICY_FILE file line 14: msg".
func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s %s: %s", Variable, e.File, e.Msg)
	}
	return fmt.Sprintf("%s %s line %d: %s", Variable, e.File, e.Line, e.Msg)
}

// The fields of each mapping, with an example of each and of the whole.
var (
	topFields = fieldSet{example: "rules: [{name: payments-prod, match: {projects: [payments]}, approvals: [{count: 1, from: {groups: [platform]}}]}]", fields: map[string]string{
		"groups":     "groups: {platform: S0123ABCD}",
		"breakGlass": "breakGlass: {requesters: {groups: [sre-oncall]}, emailTo: [incidents@example.com]}",
		"rules":      "rules: [{name: payments-prod, match: {projects: [payments]}, approvals: [{count: 1, from: {groups: [platform]}}]}]",
	}}
	ruleFields = fieldSet{example: "{name: payments-prod, match: {projects: [payments]}, approvals: [{count: 1, from: {groups: [platform]}}]}", fields: map[string]string{
		"name":              "name: payments-prod",
		"match":             `match: {instances: [prod], apps: ["*-dev"]}`,
		"requesters":        "requesters: {users: [U0ALICE], groups: [platform]}",
		"approval":          "approval: none",
		"approvals":         "approvals: [{count: 1, from: {groups: [platform]}}]",
		"allowSelfApproval": "allowSelfApproval: false",
		"allowSameApprover": "allowSameApprover: false",
		"timeout":           "timeout: 2h",
		"reminders":         "reminders: [30m, 90m]",
	}}
	matchFields = fieldSet{example: `match: {instances: [prod], projects: [payments], apps: ["*-dev"], actions: [sync]}`, fields: map[string]string{
		"instances":     "instances: [prod]",
		"projects":      "projects: [payments]",
		"apps":          `apps: ["*-dev", team-a/guestbook]`,
		"actions":       "actions: [sync, rollback]",
		"sonarProjects": `sonarProjects: ["deploybot:*"]`,
	}}
	principalFields = fieldSet{example: "{users: [U0ALICE], groups: [platform]}", fields: map[string]string{
		"users":    "users: [U0ALICE]",
		"groups":   "groups: [platform]",
		"everyone": "everyone: true",
	}}
	breakGlassFields = fieldSet{example: "breakGlass: {requesters: {groups: [sre-oncall]}, emailTo: [incidents@example.com]}", fields: map[string]string{
		"requesters":        "requesters: {groups: [sre-oncall]}",
		"allowSelfApproval": "allowSelfApproval: false",
		"emailTo":           "emailTo: [incidents@example.com]",
		"timeout":           "timeout: 15m",
	}}
	requirementFields = fieldSet{example: "{count: 1, from: {groups: [platform]}}", fields: map[string]string{
		"count": "count: 1",
		"from":  "from: {groups: [platform]}",
	}}
)

// fieldSet are the fields of a mapping, each with an example, and an
// example of the whole.
type fieldSet struct {
	fields  map[string]string
	example string
}

// suggest is the known field closest to an unknown one, or "".
func (fs fieldSet) suggest(key string) string {
	best, bestDist := "", 3 // at most two edits away
	for _, k := range fs.names() {
		if strings.EqualFold(k, key) {
			return k
		}
		if d := distance(strings.ToLower(k), strings.ToLower(key)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func (fs fieldSet) names() []string {
	ks := make([]string, 0, len(fs.fields))
	for k := range fs.fields {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var (
	groupIDRE     = regexp.MustCompile(`^S[A-Z0-9]{2,31}$`)
	groupHandleRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,79}$`)
	yamlLineRE    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlAnchorRE  = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

var actions = []contract.Action{contract.ActionSync, contract.ActionRollback, contract.ActionAutoSyncOn, contract.ActionAutoSyncOff}

type parser struct {
	file       string
	d          Defaults
	groups     map[string]contract.UserGroup // handle → group
	errs       []error
	breakGlass *BreakGlass
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) parse(data []byte) []Rule {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		} else if m := yamlAnchorRE.FindStringSubmatch(msg); m != nil {
			line = lineOf(data, "*"+m[1])
		}
		hint := "check the indentation and quoting there, e.g. apps: [guestbook]"
		if strings.Contains(msg, "alias") || strings.Contains(msg, "anchor") || strings.Contains(msg, "alphabetic or numeric") {
			hint = `quote globs that start with *, which YAML reads as an alias, e.g. apps: ["*-dev"]`
		}
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf("is not valid YAML: %s; %s", msg, hint)})
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		p.errorf(nil, "is empty: list the approval rules under rules:, e.g. %s", topFields.fields["rules"])
		return nil
	}
	root := resolve(doc.Content[0])
	fields := p.mapping(root, "the file", topFields)
	if fields == nil {
		return nil
	}
	if g, ok := fields["groups"]; ok {
		p.parseGroups(g.value)
	}
	if b, ok := fields["breakGlass"]; ok {
		p.parseBreakGlass(b)
	}
	rn, ok := fields["rules"]
	if !ok {
		p.errorf(root, "has no rules: list them under rules:, e.g. %s", topFields.fields["rules"])
		return nil
	}
	return p.parseRules(rn.value)
}

// lineOf is the first line of data holding s, 0 if none.
func lineOf(data []byte, s string) int {
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	return 0
}

// field is a mapping's value with its key, for lines.
type field struct{ key, value *yaml.Node }

// mapping checks that n is a mapping of known fields, once each, and
// returns them; nil (reported) when n is not a mapping.
func (p *parser) mapping(n *yaml.Node, where string, known fieldSet) map[string]field {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping of %s, e.g. %s", where, strings.Join(known.names(), ", "), known.example)
		return nil
	}
	out := map[string]field{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if _, ok := known.fields[k.Value]; !ok {
			if s := known.suggest(k.Value); s != "" {
				p.errorf(k, "%s: unknown field %q; e.g. %s", where, k.Value, known.fields[s])
			} else {
				p.errorf(k, "%s: unknown field %q: the fields are %s, e.g. %s", where, k.Value, strings.Join(known.names(), ", "), known.example)
			}
			continue
		}
		if prev, dup := out[k.Value]; dup {
			p.errorf(k, "%s: %s is given twice (first on line %d); keep one, e.g. %s", where, k.Value, prev.key.Line, known.fields[k.Value])
			continue
		}
		out[k.Value] = field{k, v}
	}
	return out
}

// resolve follows an alias to its anchor.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// scalar is n's value when it is a non-null scalar; else reported.
func (p *parser) scalar(f field, where, example string) (string, bool) {
	if f.value.Kind != yaml.ScalarNode || isNull(f.value) {
		p.errorf(f.value, "%s: %s must be a single value, e.g. %s", where, f.key.Value, example)
		return "", false
	}
	return f.value.Value, true
}

// list is n's items when it is a non-empty list of scalars; else reported.
func (p *parser) list(f field, where, example string) ([]*yaml.Node, bool) {
	if f.value.Kind != yaml.SequenceNode {
		p.errorf(f.value, "%s: %s must be a list, e.g. %s", where, f.key.Value, example)
		return nil, false
	}
	items := make([]*yaml.Node, 0, len(f.value.Content))
	ok := true
	for _, it := range f.value.Content {
		it = resolve(it)
		if it.Kind != yaml.ScalarNode || isNull(it) || it.Value == "" {
			p.errorf(it, "%s: every item of %s must be a single value, e.g. %s", where, f.key.Value, example)
			ok = false
			continue
		}
		items = append(items, it)
	}
	return items, ok
}

func (p *parser) boolean(f field, where, example string) (bool, bool) {
	var b bool
	if f.value.Kind != yaml.ScalarNode || f.value.Tag != "!!bool" || f.value.Decode(&b) != nil {
		p.errorf(f.value, "%s: %s must be true or false, e.g. %s", where, f.key.Value, example)
		return false, false
	}
	return b, true
}

func (p *parser) duration(n *yaml.Node, where, key, example string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, "%s: %s must be a duration, e.g. %s", where, key, example)
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		p.errorf(n, "%s: %s %q is not a duration: write a number with a unit (s, m or h), e.g. %s", where, key, n.Value, example)
		return 0, false
	}
	if d <= 0 {
		p.errorf(n, "%s: %s %s must be longer than zero, e.g. %s", where, key, n.Value, example)
		return 0, false
	}
	return d, true
}

// parseBreakGlass reads breakGlass: its requesters (named people or
// groups, never everyone) may sync with --emergency, and one of them must
// approve; allowSelfApproval (default false) lets that be the requester.
func (p *parser) parseBreakGlass(f field) {
	const where = "breakGlass"
	fields := p.mapping(f.value, where, breakGlassFields)
	if fields == nil {
		return
	}
	errs := len(p.errs)
	rule := contract.ApprovalRule{Name: BreakGlassRuleName, Line: f.key.Line, Timeout: p.d.Deploy.Timeout}
	if r, ok := fields["requesters"]; !ok {
		p.errorf(f.key, "%s has no requesters: name the people or groups who may sync with --emergency, e.g. %s", where, breakGlassFields.fields["requesters"])
	} else if pr, ok := p.parsePrincipals(r, where+": requesters"); ok {
		switch {
		case pr.Everyone:
			p.errorf(r.value, "%s: requesters cannot be everyone: break-glass is for an explicit group, e.g. %s", where, breakGlassFields.fields["requesters"])
		case len(pr.Users) == 0 && len(pr.Groups) == 0:
			p.errorf(r.value, "%s: requesters names nobody, e.g. %s", where, breakGlassFields.fields["requesters"])
		}
		rule.Requesters = pr
		rule.Requires = []contract.Requirement{{Count: 1, From: pr}}
	}
	if b, ok := fields["allowSelfApproval"]; ok {
		rule.AllowSelfApproval, _ = p.boolean(b, where, breakGlassFields.fields["allowSelfApproval"])
	}
	if t, ok := fields["timeout"]; ok {
		if d, ok := p.duration(t.value, where, "timeout", breakGlassFields.fields["timeout"]); ok {
			rule.Timeout = d
		}
	}
	var to []string
	if e, ok := fields["emailTo"]; !ok {
		p.errorf(f.key, "%s has no emailTo: every emergency sync is emailed, so say to whom, e.g. %s", where, breakGlassFields.fields["emailTo"])
	} else if its, ok := p.list(e, where, breakGlassFields.fields["emailTo"]); ok {
		for _, it := range its {
			if _, err := mail.ParseAddress(it.Value); err != nil || strings.ContainsAny(it.Value, "<> ") {
				p.errorf(it, "%s: emailTo %q is not an email address, e.g. %s", where, it.Value, breakGlassFields.fields["emailTo"])
				continue
			}
			to = append(to, it.Value)
		}
		if len(its) == 0 {
			p.errorf(e.value, "%s: emailTo is empty, e.g. %s", where, breakGlassFields.fields["emailTo"])
		}
	}
	if len(p.errs) == errs {
		p.breakGlass = &BreakGlass{Rule: rule, EmailTo: to}
	}
}

func (p *parser) parseGroups(n *yaml.Node) {
	const where = "groups"
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "groups must map each Slack user group's handle to its id, e.g. %s", topFields.fields["groups"])
		return
	}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		handle := strings.TrimPrefix(k.Value, "@")
		switch {
		case !groupHandleRE.MatchString(handle):
			p.errorf(k, "%s: %q is not a Slack user group handle: use lowercase letters, digits, '.', '-' and '_', e.g. platform: S0123ABCD", where, k.Value)
			continue
		case lines[handle] != 0:
			p.errorf(k, "%s: %s is declared twice (first on line %d); keep one, e.g. %s: S0123ABCD", where, handle, lines[handle], handle)
			continue
		}
		lines[handle] = k.Line
		if v.Kind != yaml.ScalarNode || !groupIDRE.MatchString(v.Value) {
			p.errorf(v, "%s: %s: %q is not a Slack user group id (S…, the group's page → ⋮ → Copy group ID), e.g. %s: S0123ABCD", where, handle, v.Value, handle)
			continue
		}
		p.groups[handle] = contract.UserGroup{ID: v.Value, Handle: handle}
	}
}

func (p *parser) parseRules(n *yaml.Node) []Rule {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.errorf(n, "rules must be a list of rules, tried in order, e.g. %s", topFields.fields["rules"])
		return nil
	}
	var rules []Rule
	names := map[string]int{}
	var allDeploy, allGate *Rule
	for i, rn := range n.Content {
		r, ok := p.parseRule(resolve(rn), i+1, names)
		if !ok {
			continue
		}
		last, kind, narrow := &allDeploy, "deploy request", matchFields.fields["apps"]
		if r.Match.Gate() {
			last, kind, narrow = &allGate, "quality gate", matchFields.fields["sonarProjects"]
		}
		if *last != nil {
			p.errorf(rn, "rule %q can never match: rule %q (line %d) before it matches every %s; move this rule above it, or narrow that rule's match, e.g. match: {%s}", r.Rule.Name, (*last).Rule.Name, (*last).Rule.Line, kind, narrow)
		} else if r.Match.All() {
			*last = &r
		}
		rules = append(rules, r)
	}
	return rules
}

func (p *parser) parseRule(n *yaml.Node, index int, names map[string]int) (Rule, bool) {
	where := fmt.Sprintf("rule %d", index)
	if name := peekName(n); name != "" {
		where = fmt.Sprintf("rule %q", name)
	}
	fields := p.mapping(n, where, ruleFields)
	if fields == nil {
		return Rule{}, false
	}
	errs := len(p.errs)
	r := Rule{Rule: contract.ApprovalRule{Line: n.Line}}

	if f, ok := fields["name"]; !ok {
		p.errorf(n, "%s has no name: every rule needs its own, e.g. %s", where, ruleFields.fields["name"])
	} else if name, ok := p.scalar(f, where, ruleFields.fields["name"]); ok {
		switch {
		case strings.TrimSpace(name) == "":
			p.errorf(f.value, "%s: name is empty, e.g. %s", where, ruleFields.fields["name"])
		case name == contract.DefaultRuleName:
			p.errorf(f.value, "%s: the name %q is the rule of the environment settings, which applies when no rule matches; name this one after what it is for, e.g. %s", where, name, ruleFields.fields["name"])
		case names[name] != 0:
			p.errorf(f.value, "%s: the name is used twice (first on line %d); every rule needs its own, e.g. name: %s-2", where, names[name], name)
		default:
			names[name] = f.value.Line
		}
		r.Rule.Name = name
	}

	if f, ok := fields["match"]; ok {
		r.Match = p.parseMatch(f, where)
	}
	gate := r.Match.Gate()
	def := p.d.Deploy
	if gate {
		def = p.d.Gate
	}

	// approval: none.
	if f, ok := fields["approval"]; ok {
		if v, ok := p.scalar(f, where, ruleFields.fields["approval"]); ok {
			switch {
			case v != "none":
				p.errorf(f.value, "%s: approval %q: its only value is none (run at once, audited); to ask for approvals write approvals:, e.g. %s", where, v, ruleFields.fields["approvals"])
			case gate:
				p.errorf(f.value, "%s: a quality-gate rule cannot have approval: none: accepting a security risk always needs an approver, e.g. %s", where, ruleFields.fields["approvals"])
			default:
				r.Rule.NoApproval = true
				for _, k := range []string{"approvals", "reminders", "timeout", "allowSelfApproval", "allowSameApprover"} {
					if g, ok := fields[k]; ok {
						p.errorf(g.key, "%s: %s has no effect with approval: none (the action runs at once): remove it, or replace approval: none with approvals, e.g. %s", where, k, ruleFields.fields["approvals"])
					}
				}
			}
		}
	}

	// requesters.
	if f, ok := fields["requesters"]; ok {
		if gate {
			p.errorf(f.key, "%s: quality-gate rules have no requesters (SonarQube raises the request): remove requesters and name who decides, e.g. %s", where, ruleFields.fields["approvals"])
		} else if pr, ok := p.parsePrincipals(f, where+": requesters"); ok {
			switch {
			case !pr.Everyone && len(pr.Users) == 0 && len(pr.Groups) == 0:
				p.errorf(f.value, "%s: requesters names nobody: list users or groups, or everyone: true, or leave requesters out for ALLOWED_USERS, e.g. %s", where, ruleFields.fields["requesters"])
			case pr.Everyone && len(pr.Users)+len(pr.Groups) > 0:
				p.errorf(f.value, "%s: requesters has everyone: true, which includes the users and groups it also names: keep one, e.g. requesters: {everyone: true}", where)
			}
			r.Rule.Requesters = pr
		}
	} else if !gate {
		r.Rule.Requesters = def.Requesters
	}

	// approvals.
	if f, ok := fields["approvals"]; ok && !r.Rule.NoApproval {
		if f.value.Kind != yaml.SequenceNode || len(f.value.Content) == 0 {
			p.errorf(f.value, "%s: approvals must be a list of requirements, all of which must be met, e.g. %s", where, ruleFields.fields["approvals"])
		} else {
			for i, qn := range f.value.Content {
				qn = resolve(qn)
				qwhere := fmt.Sprintf("%s: approvals item %d", where, i+1)
				qf := p.mapping(qn, qwhere, requirementFields)
				if qf == nil {
					continue
				}
				var q contract.Requirement
				if c, ok := qf["count"]; ok {
					if c.value.Kind != yaml.ScalarNode || c.value.Tag != "!!int" || c.value.Decode(&q.Count) != nil {
						p.errorf(c.value, "%s: count must be a whole number, e.g. %s", qwhere, requirementFields.fields["count"])
					}
				} else {
					p.errorf(qn, "%s has no count: say how many approvals it needs, e.g. {count: 1, from: {groups: [platform]}}", qwhere)
				}
				if fr, ok := qf["from"]; ok {
					q.From, _ = p.parsePrincipals(fr, qwhere+": from")
				} else {
					p.errorf(qn, "%s has no from: say whose approvals count, e.g. {count: 1, from: {groups: [platform]}}", qwhere)
				}
				r.Rule.Requires = append(r.Rule.Requires, q)
			}
		}
	} else if !r.Rule.NoApproval {
		r.Rule.Requires = slices.Clone(def.Requires)
		if len(r.Rule.Requires) == 0 && len(p.errs) == errs {
			v := "APPROVERS"
			if gate {
				v = "SAST_APPROVERS"
			}
			p.errorf(n, "%s has no approvals and %s is empty, so nobody could approve: name the approvers, e.g. %s", where, v, ruleFields.fields["approvals"])
		}
	}

	// Flags.
	r.Rule.AllowSelfApproval = def.AllowSelfApproval && !gate
	if f, ok := fields["allowSelfApproval"]; ok && !r.Rule.NoApproval {
		if gate {
			p.errorf(f.key, "%s: allowSelfApproval has no effect on quality gates (SonarQube raises them, there is no requester): remove it, e.g. %s", where, ruleFields.fields["approvals"])
		} else if b, ok := p.boolean(f, where, ruleFields.fields["allowSelfApproval"]); ok {
			r.Rule.AllowSelfApproval = b
		}
	}
	if f, ok := fields["allowSameApprover"]; ok && !r.Rule.NoApproval {
		if b, ok := p.boolean(f, where, ruleFields.fields["allowSameApprover"]); ok {
			r.Rule.AllowSameApprover = b
		}
	}

	// Times.
	r.Rule.Timeout = def.Timeout
	if f, ok := fields["timeout"]; ok && !r.Rule.NoApproval {
		if d, ok := p.duration(f.value, where, "timeout", ruleFields.fields["timeout"]); ok {
			r.Rule.Timeout = d
		}
	}
	if f, ok := fields["reminders"]; ok && !r.Rule.NoApproval {
		if f.value.Kind != yaml.SequenceNode {
			p.errorf(f.value, "%s: reminders must be a list of times after the request, e.g. %s", where, ruleFields.fields["reminders"])
		} else {
			for _, dn := range f.value.Content {
				if d, ok := p.duration(resolve(dn), where, "reminders", ruleFields.fields["reminders"]); ok {
					r.Rule.Reminders = append(r.Rule.Reminders, d)
				}
			}
		}
	} else if gate && !r.Rule.NoApproval {
		r.Rule.Reminders = []time.Duration{r.Rule.Timeout / 2}
	}
	if r.Rule.NoApproval {
		r.Rule.Timeout, r.Rule.AllowSelfApproval = 0, false
	}

	if len(p.errs) > errs {
		return r, false
	}
	if err := r.Rule.Validate(); err != nil {
		for _, e := range unjoin(err) {
			msg := e.Error()
			if !strings.Contains(msg, "e.g.") {
				msg += "; e.g. " + ruleFields.fields["approvals"]
			}
			p.errorf(n, "%s", msg)
		}
		return r, false
	}
	return r, true
}

// peekName is the rule's name, if it has one, for the errors of its fields.
func peekName(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if v := resolve(n.Content[i+1]); n.Content[i].Value == "name" && v.Kind == yaml.ScalarNode && !isNull(v) {
			return v.Value
		}
	}
	return ""
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (p *parser) parseMatch(f field, where string) Match {
	var m Match
	fields := p.mapping(f.value, where+": match", matchFields)
	if fields == nil {
		return m
	}
	items := func(key string) []*yaml.Node {
		g, ok := fields[key]
		if !ok {
			return nil
		}
		its, ok := p.list(g, where+": match", matchFields.fields[key])
		if ok && len(its) == 0 {
			p.errorf(g.value, "%s: match %s is an empty list, which matches nothing: leave %s out to match any, or name some, e.g. %s", where, key, key, matchFields.fields[key])
		}
		return its
	}
	for _, it := range items("instances") {
		switch {
		case contract.ValidateInstanceName(it.Value) != nil:
			p.errorf(it, "%s: match instances: %v", where, contract.ValidateInstanceName(it.Value))
		case p.d.Instances != nil && slices.Equal(p.d.Instances, []string{""}):
			p.errorf(it, "%s: match instances names %q, but this deploybot has one Argo CD (ARGOCD_URL), which has no name: leave instances out, or name instances in ARGOCD_INSTANCES_FILE, e.g. %s", where, it.Value, matchFields.fields["apps"])
		case p.d.Instances != nil && !slices.Contains(p.d.Instances, it.Value):
			p.errorf(it, "%s: match instances names %q, which is not an instance of ARGOCD_INSTANCES_FILE (%s), e.g. instances: [%s]", where, it.Value, strings.Join(p.d.Instances, ", "), p.d.Instances[0])
		}
		m.Instances = append(m.Instances, it.Value)
	}
	for _, it := range items("projects") {
		if err := contract.ValidateProjectName(it.Value); err != nil {
			p.errorf(it, "%s: match projects: %v", where, err)
		}
		m.Projects = append(m.Projects, it.Value)
	}
	for _, it := range items("apps") {
		switch {
		case strings.Contains(it.Value, "@"):
			p.errorf(it, "%s: match apps %q names an instance: apps are matched without @instance; name the instance in instances:, e.g. match: {apps: [guestbook], instances: [prod]}", where, it.Value)
		case badGlob(it.Value):
			p.errorf(it, "%s: match apps %q is not a valid glob (*, ?, [a-z]; close every [), e.g. %s", where, it.Value, matchFields.fields["apps"])
		case !strings.ContainsAny(it.Value, `*?[\`) && contract.ValidateAppName(it.Value) != nil:
			p.errorf(it, "%s: match apps: %v", where, contract.ValidateAppName(it.Value))
		}
		m.Apps = append(m.Apps, it.Value)
	}
	for _, it := range items("actions") {
		a := contract.Action(it.Value)
		if !slices.Contains(actions, a) {
			p.errorf(it, "%s: match actions %q is not an action: use sync, rollback, autosync_on or autosync_off, e.g. %s", where, it.Value, matchFields.fields["actions"])
		}
		m.Actions = append(m.Actions, a)
	}
	if g, ok := fields["sonarProjects"]; ok {
		for _, it := range items("sonarProjects") {
			if badGlob(it.Value) {
				p.errorf(it, "%s: match sonarProjects %q is not a valid glob (*, ?, [a-z]; close every [), e.g. %s", where, it.Value, matchFields.fields["sonarProjects"])
			}
			m.SonarProjects = append(m.SonarProjects, it.Value)
		}
		for _, k := range []string{"instances", "projects", "apps", "actions"} {
			if o, ok := fields[k]; ok {
				p.errorf(o.key, "%s: a rule with sonarProjects matches quality gates only (line %d), so it cannot match %s too: put the deploy requests in a rule of their own, e.g. match: {%s}", where, g.key.Line, k, matchFields.fields[k])
			}
		}
	}
	return m
}

func badGlob(s string) bool {
	_, err := path.Match(s, "")
	return err != nil
}

// parsePrincipals reads {users, groups, everyone}.
func (p *parser) parsePrincipals(f field, where string) (contract.Principals, bool) {
	var pr contract.Principals
	fields := p.mapping(f.value, where, principalFields)
	if fields == nil {
		return pr, false
	}
	ok := true
	if g, has := fields["users"]; has {
		its, good := p.list(g, where, principalFields.fields["users"])
		ok = ok && good
		for _, it := range its {
			switch {
			case !contract.IsSlackUserID(it.Value):
				p.errorf(it, "%s: %q is not a Slack user id: use member ids (profile → ⋮ → Copy member ID), not names, e.g. users: [U0ALICE]", where, it.Value)
				ok = false
			case slices.Contains(pr.Users, it.Value):
				p.errorf(it, "%s: users names %s twice; name each person once, e.g. users: [%s]", where, it.Value, it.Value)
				ok = false
			default:
				pr.Users = append(pr.Users, it.Value)
			}
		}
	}
	if g, has := fields["groups"]; has {
		its, good := p.list(g, where, principalFields.fields["groups"])
		ok = ok && good
		for _, it := range its {
			handle := strings.TrimPrefix(it.Value, "@")
			grp, declared := p.groups[handle]
			switch {
			case !declared:
				p.errorf(it, "%s: group %q is not declared: add its id under groups: at the top, e.g. groups: {%s: S0123ABCD}", where, handle, handle)
				ok = false
			case slices.Contains(pr.Groups, grp):
				p.errorf(it, "%s: groups names %s twice; name each group once, e.g. groups: [%s]", where, handle, handle)
				ok = false
			default:
				pr.Groups = append(pr.Groups, grp)
			}
		}
	}
	if g, has := fields["everyone"]; has {
		b, good := p.boolean(g, where, principalFields.fields["everyone"])
		ok = ok && good
		pr.Everyone = b
	}
	return pr, ok
}
