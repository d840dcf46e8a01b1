package slackui

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/runsapi"
)

// Block ids of the read-only command replies.
const (
	// BlockIDTableTitle is a table message's title section.
	BlockIDTableTitle = "deploybot.table.title"
	// BlockIDTableNote is the note under a table.
	BlockIDTableNote = "deploybot.table.note"
	// BlockIDAppStatus is the sync/health section of `status`.
	BlockIDAppStatus = "deploybot.appstatus"
	// BlockIDOperation is the Argo CD operation section of `status`.
	BlockIDOperation = "deploybot.operation"
	// BlockIDRun is the deploybot run section of `status`.
	BlockIDRun = "deploybot.run"
	// BlockIDFreezes lists the freezes that hold an app.
	BlockIDFreezes = "deploybot.freezes"
)

// MaxTableBlocksPerMessage is how many code blocks (~15,000 characters) a
// table message carries. Slack accepts more, but a longer message is hard
// to read, and a slash command's response_url takes only five posts, so
// 500 apps must fit in a few messages.
const MaxTableBlocksPerMessage = 5

// MaxTableCell bounds one table cell; longer values end in "…".
const MaxTableCell = 40

const (
	// codeFenceCost is "```\n" before and "\n```" after the rows.
	codeFenceCost = 8
	// maxCodeBlock is what one code block's lines may take.
	maxCodeBlock = maxSectionText - codeFenceCost
	// columnGap separates two columns.
	columnGap = "  "
	// maxTableLine bounds a row's width: 250 characters, escaped (up to 5
	// times longer), twice (header and row) plus the separator still fit
	// in one block.
	maxTableLine = 250
)

// CommandReply is the answer to a read-only command; exactly one field is set.
type CommandReply struct {
	Table     *Table     `json:"table,omitempty"`
	AppStatus *AppStatus `json:"appStatus,omitempty"`
}

// Table is a monospace table (list_apps, rollback_revisions) shown as code
// blocks. Use SplitTable to cut a table into messages that each stay within
// Slack's limits; Render cuts an unsplit table that would not fit.
type Table struct {
	// Title is plain text (escaped when rendered).
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
	// Widths are the column widths; SplitTable sets them so every page lines
	// up the same way. Nil means computed from Columns and Rows.
	Widths []int `json:"widths,omitempty"`
	// Note is plain text shown under the table (e.g. why some cells are n/a).
	Note string `json:"note,omitempty"`
	// Page and Pages say which message of a split table this is (1-based);
	// zero for a table in one message.
	Page  int `json:"page,omitempty"`
	Pages int `json:"pages,omitempty"`
	// Empty is shown instead of the table when there are no rows.
	Empty string `json:"empty,omitempty"`
}

// AppStatus answers `status APP`: Argo CD's view of the app and the
// deploybot run in flight for it, if any.
type AppStatus struct {
	App            string                   `json:"app"`
	Project        string                   `json:"project,omitempty"`
	SyncStatus     string                   `json:"syncStatus,omitempty"`
	Health         string                   `json:"health,omitempty"`
	HealthMessage  string                   `json:"healthMessage,omitempty"`
	Revision       string                   `json:"revision,omitempty"`
	TargetRevision string                   `json:"targetRevision,omitempty"`
	AutoSync       *contract.AutoSyncPolicy `json:"autoSync,omitempty"`
	// Operation is the current or last Argo CD operation; nil if none ran.
	Operation *Operation `json:"operation,omitempty"`
	// Run is the app's deploybot run; nil if there is none (or RunNote says
	// why it could not be looked up).
	Run     *RunInfo `json:"run,omitempty"`
	RunNote string   `json:"runNote,omitempty"`
	// Freezes are the freezes in force on the app; FreezeNote says why
	// they could not be read.
	Freezes    []contract.Freeze `json:"freezes,omitempty"`
	FreezeNote string            `json:"freezeNote,omitempty"`
}

// Operation is an Argo CD operation as `status` shows it.
type Operation struct {
	// Phase is Running, Succeeded, Failed, Error or Terminating; "" while
	// Pending (requested, not picked up by the controller yet).
	Phase   string `json:"phase,omitempty"`
	Pending bool   `json:"pending,omitempty"`
	Message string `json:"message,omitempty"`
	// Revision is what the operation deploys.
	Revision    string    `json:"revision,omitempty"`
	InitiatedBy string    `json:"initiatedBy,omitempty"`
	Automated   bool      `json:"automated,omitempty"`
	StartedAt   time.Time `json:"startedAt,omitempty"`
	FinishedAt  time.Time `json:"finishedAt,omitempty"`
}

// RunInfo is the app's deploybot (DeployWorkflow) run.
type RunInfo struct {
	WorkflowID string `json:"workflowId"`
	URL        string `json:"url,omitempty"`
	Running    bool   `json:"running"`
	// State is Temporal's execution status when the run is over
	// (Completed, Failed, Terminated, ...).
	State     string    `json:"state,omitempty"`
	StartedAt time.Time `json:"startedAt,omitempty"`
	ClosedAt  time.Time `json:"closedAt,omitempty"`
	// Status is the run's own status (its status query); nil when the run is
	// over or did not answer.
	Status *contract.DeployStatus `json:"status,omitempty"`
}

// renderCommand renders a CommandReply.
func renderCommand(c *CommandReply) (string, []slack.Block, error) {
	switch {
	case c.Table != nil && c.AppStatus != nil:
		return "", nil, errors.New("slackui: CommandReply has both Table and AppStatus set: set exactly one")
	case c.Table != nil:
		return renderTable(c.Table)
	case c.AppStatus != nil:
		return renderAppStatus(c.AppStatus)
	}
	return "", nil, errors.New("slackui: empty CommandReply: set Table or AppStatus")
}

// ---- tables ----

// cell makes a value fit one table cell: one line, no backtick (it would
// end the code block), at most MaxTableCell characters.
func cell(s string) string {
	s = strings.NewReplacer("`", "'", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	if utf8.RuneCountInString(s) > MaxTableCell {
		r := []rune(s)
		s = string(r[:MaxTableCell-1]) + "…"
	}
	return s
}

// widths returns the display width of every column.
func (t *Table) widths() []int {
	if len(t.Widths) == len(t.Columns) {
		return t.Widths
	}
	w := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		w[i] = utf8.RuneCountInString(cell(c))
	}
	for _, row := range t.Rows {
		for i := range w {
			if i < len(row) {
				w[i] = max(w[i], utf8.RuneCountInString(cell(row[i])))
			}
		}
	}
	return w
}

// line lays out one row, escaped for mrkdwn (after padding, so "&" pads
// as the one character readers see). A row wider than maxTableLine (many
// columns) is cut, so header, separator and one row always fit a block
// even if every character needs escaping.
func line(cells []string, widths []int) string {
	var b strings.Builder
	for i, w := range widths {
		v := ""
		if i < len(cells) {
			v = cell(cells[i])
		}
		if i > 0 {
			b.WriteString(columnGap)
		}
		b.WriteString(v)
		if i < len(widths)-1 {
			b.WriteString(strings.Repeat(" ", max(0, w-utf8.RuneCountInString(v))))
		}
	}
	s := strings.TrimRight(b.String(), " ")
	if utf8.RuneCountInString(s) > maxTableLine {
		s = string([]rune(s)[:maxTableLine-1]) + "…"
	}
	return Escape(s)
}

// codeBlocks packs the rows into code blocks of at most maxSectionText
// characters, each starting with the column header; it returns each
// block's text and the index of its first row.
func (t *Table) codeBlocks() (blocks []string, starts []int) {
	w := t.widths()
	width := 0
	for i := range w {
		if i > 0 {
			width += len(columnGap)
		}
		width += w[i]
	}
	head := line(upper(t.Columns), w) + "\n" + strings.Repeat("-", min(width, maxTableLine))
	headLen := utf8.RuneCountInString(head)
	var cur strings.Builder
	curLen := 0
	flush := func() {
		blocks = append(blocks, "```\n"+cur.String()+"\n```")
		cur.Reset()
		curLen = 0
	}
	for i, row := range t.Rows {
		l := line(row, w)
		n := utf8.RuneCountInString(l)
		if curLen > 0 && curLen+1+n > maxCodeBlock {
			flush()
		}
		if curLen == 0 {
			cur.WriteString(head)
			curLen = headLen
			starts = append(starts, i)
		}
		cur.WriteString("\n")
		cur.WriteString(l)
		curLen += 1 + n
	}
	if curLen > 0 {
		flush()
	}
	return blocks, starts
}

func upper(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = strings.ToUpper(c)
	}
	return out
}

// SplitTable cuts t into pages that each render as one message within
// Slack's limits (at most MaxTableBlocksPerMessage code blocks of at most
// 3,000 characters), whatever the number of rows. Every page keeps the
// title, the column widths of the whole table and, on the last page, the
// note. A table with no rows is one page.
func SplitTable(t Table) []Table {
	t.Widths = t.widths()
	_, starts := t.codeBlocks()
	if len(starts) <= MaxTableBlocksPerMessage {
		return []Table{t}
	}
	var pages []Table
	for b := 0; b < len(starts); b += MaxTableBlocksPerMessage {
		end := len(t.Rows)
		if b+MaxTableBlocksPerMessage < len(starts) {
			end = starts[b+MaxTableBlocksPerMessage]
		}
		p := t
		p.Rows = t.Rows[starts[b]:end]
		p.Note = ""
		pages = append(pages, p)
	}
	pages[len(pages)-1].Note = t.Note
	for i := range pages {
		pages[i].Page, pages[i].Pages = i+1, len(pages)
	}
	return pages
}

// renderTable renders one table message: the title, the rows as code
// blocks, and the note.
func renderTable(t *Table) (string, []slack.Block, error) {
	if len(t.Columns) == 0 {
		return "", nil, errors.New("slackui: Table needs Columns")
	}
	if len(t.Widths) != 0 && len(t.Widths) != len(t.Columns) {
		return "", nil, fmt.Errorf("slackui: Table has %d widths for %d columns", len(t.Widths), len(t.Columns))
	}
	title := strings.TrimSpace(t.Title)
	if title == "" {
		title = "Table"
	}
	page := ""
	if t.Pages > 1 {
		page = fmt.Sprintf(" (%d/%d)", t.Page, t.Pages)
	}
	blocks := []slack.Block{section(BlockIDTableTitle, "*"+Escape(title)+"*"+page)}
	text := Escape(title) + page

	note := strings.TrimSpace(t.Note)
	if len(t.Rows) == 0 {
		empty := t.Empty
		if empty == "" {
			empty = "Nothing to show."
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Truncate("_"+Escape(empty)+"_", maxSectionText)), nil, nil))
		text += ": " + Escape(empty)
	} else {
		code, starts := t.codeBlocks()
		// Room for the title and note blocks: a table nobody split is cut
		// rather than refused.
		if limit := maxBlocks - 2; len(code) > limit {
			note = strings.TrimSpace(fmt.Sprintf("…and %d more rows not shown. %s", len(t.Rows)-starts[limit], note))
			code = code[:limit]
		}
		for _, c := range code {
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(c), nil, nil))
		}
	}
	if note != "" {
		blocks = append(blocks, section(BlockIDTableNote, "_"+Escape(strings.Join(strings.Fields(note), " "))+"_"))
	}
	return text, blocks, nil
}

// ImageTags shows the tags of image references ("ghcr.io/org/app:v1.2.0"
// → "v1.2.0", a digest as "@sha256:0123456"), each once, comma-separated.
func ImageTags(images []string) string {
	var tags []string
	seen := map[string]bool{}
	for _, img := range images {
		tag := imageTag(img)
		if !seen[tag] {
			seen[tag] = true
			tags = append(tags, tag)
		}
	}
	return strings.Join(tags, ",")
}

func imageTag(img string) string {
	if at := strings.LastIndex(img, "@"); at >= 0 {
		d := img[at+1:]
		if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 7 {
			d = algo + ":" + hex[:7]
		}
		return "@" + d
	}
	slash := strings.LastIndex(img, "/")
	if colon := strings.LastIndex(img, ":"); colon > slash {
		return img[colon+1:]
	}
	return "latest" // no tag means latest to the container runtime
}

// AppsTable is the `list_apps` table: app, project, sync status, health,
// image tag(s) and target revision, one row per app in the given order.
func AppsTable(apps []contract.AppSummary, projects []string) Table {
	t := Table{
		Title:   fmt.Sprintf("Argo CD applications: %d", len(apps)),
		Columns: []string{"App", "Project", "Sync", "Health", "Image tags", "Target"},
		Rows:    make([][]string, 0, len(apps)),
		Empty:   "No applications visible to deploybot's Argo CD account.",
	}
	if len(projects) > 0 {
		t.Title += " in project " + strings.Join(projects, ", ")
		t.Empty = "No applications in project " + strings.Join(projects, ", ") + "."
	}
	for _, a := range apps {
		sync := orDash(a.SyncStatus)
		if a.AutoSync {
			sync += " (auto)"
		}
		t.Rows = append(t.Rows, []string{a.Name, a.Project, sync, orDash(a.Health), orDash(ImageTags(a.Images)), ShortRev(orDash(a.TargetRevision))})
	}
	return t
}

// MoreAppsHint says how to see every app when a slash command's replies
// cut the list_apps table short; bot is BOT_NAME.
func MoreAppsHint(bot string, projects []string) string {
	if len(projects) > 0 {
		return fmt.Sprintf("Ask in a channel where @%s is a member to see them all.", BotName(bot))
	}
	return fmt.Sprintf("Ask in a channel where @%s is a member to see them all, or ask for one project: `list_apps PROJECT`.", BotName(bot))
}

// MoreRevisionsHint says how to see all of app's history when a slash
// command's replies cut the rollback_revisions table short.
func MoreRevisionsHint(bot, app string) string {
	return fmt.Sprintf("Ask in a channel where @%s is a member to see all of %s's history.", BotName(bot), app)
}

// LogsCutShort is the note on logs shown inline and cut to their newest
// lines (a slash command's reply cannot carry a file).
func LogsCutShort(bot string) string {
	return fmt.Sprintf("Only the newest lines fit here; use the command in a channel where @%s is a member for the full file.", BotName(bot))
}

// BotName is how the bot names itself: BOT_NAME, or deploybot.
func BotName(bot string) string {
	if bot == "" {
		return "deploybot"
	}
	return bot
}

// RowsNotShown is the note under the last table a slash command's replies
// can hold.
func RowsNotShown(omitted, posts int, hint string) string {
	return fmt.Sprintf("%d more rows not shown: Slack takes only %d replies to a slash command. %s", omitted, posts, hint)
}

// RevisionsTable is the `rollback_revisions` table of app: history id,
// deployed at, revision and the fields (Helm parameters), rows as given
// (newest first).
func RevisionsTable(app string, fields []string, rows []contract.RevisionRow, note string) Table {
	t := Table{
		Title:   fmt.Sprintf("Deployment history of %s: %d entries (roll back with `rollback %s ID`)", app, len(rows), app),
		Columns: append([]string{"ID", "Deployed at", "Revision"}, fields...),
		Rows:    make([][]string, 0, len(rows)),
		Note:    note,
		Empty:   "Argo CD has no deployment history for " + app + ".",
	}
	for _, r := range rows {
		row := []string{fmt.Sprint(r.ID), tableDate(r.DeployedAt), ShortRev(orDash(r.Revision))}
		for i := range fields {
			v := "-"
			if i < len(r.Params) && r.Params[i] != "" {
				v = r.Params[i]
			}
			row = append(row, v)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func tableDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// ---- status ----

// renderAppStatus renders the answer to `status APP`.
func renderAppStatus(s *AppStatus) (string, []slack.Block, error) {
	if s.App == "" {
		return "", nil, errors.New("slackui: AppStatus needs App")
	}
	head := "*Status of* " + code(s.App)
	if s.Project != "" {
		head += " · project " + code(s.Project)
	}
	syncField := "*Sync*\n" + stateCode(s.SyncStatus)
	if s.Revision != "" {
		syncField += " at " + revCode(s.Revision)
	}
	healthField := "*Health*\n" + stateCode(s.Health)
	if m := strings.TrimSpace(s.HealthMessage); m != "" {
		healthField += "\n" + Escape(strings.Join(strings.Fields(m), " "))
	}
	fields := []*slack.TextBlockObject{
		mrkdwn(syncField),
		mrkdwn(healthField),
		mrkdwn("*Target revision*\n" + revCode(s.TargetRevision)),
		mrkdwn("*Auto-sync*\n" + autoSyncText(s.AutoSync)),
	}
	blocks := []slack.Block{section(BlockIDAppStatus, head, fields...)}
	blocks = append(blocks, section(BlockIDOperation, operationText(s.Operation)))
	blocks = append(blocks, section(BlockIDRun, runText(s)))
	if t := freezesLine(s); t != "" {
		blocks = append(blocks, section(BlockIDFreezes, t))
	}
	if s.Run != nil && s.Run.URL != "" {
		blocks = append(blocks, linksBlock(s.Run.URL, s.Run.WorkflowID))
	}

	text := fmt.Sprintf("%s: %s, %s", Escape(s.App), Escape(OrUnknown(s.SyncStatus)), Escape(OrUnknown(s.Health)))
	if op := s.Operation; op != nil {
		switch {
		case op.Pending:
			text += ", an operation is pending"
		default:
			text += ", last operation " + Escape(OrUnknown(op.Phase))
		}
	}
	switch {
	case s.Run != nil && s.Run.Running:
		text += "; a deploybot run is in flight"
	default:
		text += "; no deploybot run in flight"
	}
	if len(s.Freezes) > 0 {
		text += "; frozen until " + plainDate(s.Freezes[0].Until)
	}
	return text, blocks, nil
}

// freezesLine says which freezes hold the app ("" for none).
func freezesLine(s *AppStatus) string {
	if s.FreezeNote != "" {
		return "_Could not check for freezes: " + Escape(strings.Join(strings.Fields(s.FreezeNote), " ")) + "_"
	}
	var lines []string
	for _, f := range s.Freezes {
		lines = append(lines, fmt.Sprintf(":ice_cube: *Frozen* (%s) until %s by %s: %s", freezeTarget(f.Target, code), slackDate(f.Until), f.By.Mention(), Escape(f.Reason)))
	}
	return Truncate(strings.Join(lines, "\n"), maxSectionText)
}

// OrUnknown says "unknown" for a value Argo CD or Slack did not give.
func OrUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func stateCode(s string) string {
	if s == "" {
		return "_unknown_"
	}
	return code(Truncate(s, maxStateValue))
}

func autoSyncText(p *contract.AutoSyncPolicy) string {
	if p == nil {
		return "off"
	}
	var opts []string
	if p.Prune {
		opts = append(opts, "prune")
	}
	if p.SelfHeal {
		opts = append(opts, "self-heal")
	}
	if p.AllowEmpty {
		opts = append(opts, "allow-empty")
	}
	state := "on"
	if !p.On() {
		// Argo CD 3.1+: automated is kept with enabled: false.
		state = "off (policy kept with `enabled: false`"
		if len(opts) > 0 {
			state += ": " + strings.Join(opts, ", ")
		}
		return state + ")"
	}
	if len(opts) == 0 {
		return state
	}
	return state + " (" + strings.Join(opts, ", ") + ")"
}

// operationText describes the current or last Argo CD operation.
func operationText(op *Operation) string {
	if op == nil {
		return "*Last operation*\n_none recorded_"
	}
	title := "*Last operation*"
	if op.Pending || op.Phase == "Running" || op.Phase == "Terminating" {
		title = "*Current operation*"
	}
	var parts []string
	switch {
	case op.Pending:
		parts = append(parts, "`Pending` (waiting for the Argo CD controller)")
	default:
		parts = append(parts, stateCode(op.Phase))
	}
	if op.Revision != "" {
		parts = append(parts, "to "+revCode(op.Revision))
	}
	by := ""
	switch {
	case op.Automated:
		by = "automated sync"
	case op.InitiatedBy != "":
		by = Escape(op.InitiatedBy)
	}
	if by != "" {
		parts = append(parts, "initiated by "+by)
	}
	lines := []string{title, strings.Join(parts, " · ")}
	var when []string
	if !op.StartedAt.IsZero() {
		when = append(when, "started "+slackDate(op.StartedAt))
	}
	if !op.FinishedAt.IsZero() {
		when = append(when, "finished "+slackDate(op.FinishedAt))
		if !op.StartedAt.IsZero() && op.FinishedAt.After(op.StartedAt) {
			when = append(when, "took "+FormatElapsed(op.FinishedAt.Sub(op.StartedAt)))
		}
	}
	if len(when) > 0 {
		lines = append(lines, strings.Join(when, " · "))
	}
	head := strings.Join(lines, "\n")
	if m := strings.TrimSpace(op.Message); m != "" {
		budget := maxSectionText - utf8.RuneCountInString(head) - 1
		head += "\n" + Truncate(quote(Truncate(Escape(m), budget-2)), budget)
	}
	return head
}

// runText describes the app's deploybot run.
func runText(s *AppStatus) string {
	const title = "*deploybot*\n"
	r := s.Run
	switch {
	case r == nil && s.RunNote != "":
		return title + "_Could not check for a deploybot run: " + Escape(strings.Join(strings.Fields(s.RunNote), " ")) + "_"
	case r == nil:
		return title + "No deploybot run in flight for " + code(s.App) + "."
	case !r.Running:
		line := "No deploybot run in flight for " + code(s.App) + "."
		last := "The last one (" + code(r.WorkflowID) + ")"
		if r.State != "" {
			last += " is " + Escape(strings.ToLower(r.State))
		} else {
			last += " is over"
		}
		if !r.ClosedAt.IsZero() {
			last += " since " + slackDate(r.ClosedAt)
		}
		return title + line + " " + last + "."
	}
	st := r.Status
	if st == nil {
		line := ":hourglass_flowing_sand: A deploybot run is in flight: " + code(r.WorkflowID)
		if !r.StartedAt.IsZero() {
			line += ", started " + slackDate(r.StartedAt)
		}
		if s.RunNote != "" {
			line += "\n_Its status is unavailable: " + Escape(strings.Join(strings.Fields(s.RunNote), " ")) + "_"
		}
		return title + line
	}
	_, label := statusHeadline(&DeployStatus{Step: st.Step, Action: st.Action, Outcome: st.Outcome})
	line := fmt.Sprintf(":hourglass_flowing_sand: *%s* %s in flight: %s", Escape(ActionName(st.Action)), code(st.App), label)
	var who []string
	if m := Who(&st.RequestedBy); m != "" {
		who = append(who, "requested by "+m)
	}
	if m := Who(st.DecidedBy); m != "" {
		who = append(who, "approved by "+m)
	}
	if !st.StartedAt.IsZero() {
		who = append(who, "since "+slackDate(st.StartedAt))
	}
	if len(who) > 0 {
		line += "\n" + strings.Join(who, " · ")
	}
	if st.FromRevision != "" || st.ToRevision != "" {
		line += "\nRevision " + revCode(st.FromRevision) + " → " + revCode(st.ToRevision)
	}
	if st.Step == contract.StepAwaitingApproval && !st.ExpiresAt.IsZero() {
		line += "\nWaiting for an approver until " + slackDate(st.ExpiresAt)
	}
	return title + line
}

// HistoryText is the answer to `history APP [N]`: app's last runs, newest
// first, from deploybot's own record (Temporal visibility).
func HistoryText(app string, runs []runsapi.Run, now time.Time) string {
	if len(runs) == 0 {
		return fmt.Sprintf(":scroll: deploybot has no runs of %s on record.", code(app))
	}
	lines := []string{fmt.Sprintf(":scroll: *Last %d deploybot run%s of %s*, newest first:", len(runs), plural(len(runs)), code(app))}
	for _, r := range runs {
		parts := []string{plainDate(r.StartedAt), "*" + Escape(ActionName(contract.Action(r.Action))) + "*"}
		if r.RequestedBy != nil {
			parts = append(parts, "asked by "+historyWho(r.RequestedBy))
		}
		var approvers []string
		for _, a := range r.Approvals {
			approvers = append(approvers, historyWho(&a.User))
		}
		if len(approvers) == 0 && r.DecidedBy != nil {
			approvers = append(approvers, historyWho(r.DecidedBy))
		}
		if len(approvers) > 0 {
			verb := "approved by "
			if r.Outcome == string(contract.OutcomeRejected) {
				verb = "rejected by "
			}
			parts = append(parts, verb+strings.Join(approvers, ", "))
		}
		if r.FromRevision != "" || r.Revision != "" {
			parts = append(parts, revCode(r.FromRevision)+" → "+revCode(r.Revision))
		}
		switch {
		case r.State != runsapi.StateDone:
			parts = append(parts, "_in progress_ ("+Escape(strings.ReplaceAll(r.Step, "_", " "))+")")
		case r.Outcome != "":
			parts = append(parts, Escape(r.Outcome))
		default:
			parts = append(parts, Escape(r.Status))
		}
		end := r.ClosedAt
		if end.IsZero() {
			end = now
		}
		if d := end.Sub(r.StartedAt); d > 0 {
			parts = append(parts, FormatElapsed(d.Round(time.Second)))
		}
		if r.URL != "" {
			parts = append(parts, "<"+r.URL+"|run>")
		}
		lines = append(lines, "• "+strings.Join(parts, " · "))
	}
	return Truncate(strings.Join(lines, "\n"), maxHistoryText)
}

// maxHistoryText keeps the history within one message (Slack takes 40,000
// characters of text; 50 runs need about 10,000).
const maxHistoryText = 15000

// historyWho mentions a person (Slack shows the name); a decision by API
// token says so.
func historyWho(u *runsapi.User) string {
	s := contract.User{ID: u.ID}.Mention()
	if u.Via != "" {
		s += " via " + Escape(u.Via)
	}
	return s
}

// AnswerTooLong: an answer needs more messages than a response_url takes
// (and the bot may not post in the channel).
func AnswerTooLong(maxPosts int) string {
	return fmt.Sprintf("the answer needs more than the %d messages Slack takes on a response_url", maxPosts)
}

// ParamsUnavailable notes that a rollback target's Helm parameters could
// not be read (the request goes on without them).
func ParamsUnavailable(err string) string { return "Helm parameters unavailable: " + err }

// ParamsPartlyUnavailable notes, under rollback_revisions, that some
// revisions' Helm parameters could not be read (shown as na).
func ParamsPartlyUnavailable(na string, failed, lookups int, err string) string {
	return fmt.Sprintf("%s: Helm parameters could not be read for %d of %d revisions (%s)", na, failed, lookups, err)
}
