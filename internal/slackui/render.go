package slackui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/internal/contract"
)

// Block ids of deploybot's messages. They are stable so the gateway can
// recognise the decision buttons and Slack clients keep their place when a
// message is edited.
const (
	BlockIDRequest  = "deploybot.request"
	BlockIDParams   = "deploybot.params"
	BlockIDPreview  = "deploybot.preview"
	BlockIDDecision = "deploybot.decision" // the Approve/Reject actions block
	BlockIDOutcome  = "deploybot.outcome"  // replaces the buttons once decided
	BlockIDStatus   = "deploybot.status"
	BlockIDLinks    = "deploybot.links"
	// BlockIDEmergency says a request is a break-glass sync, and why.
	BlockIDEmergency = "deploybot.emergency"
)

// Slack's Block Kit limits (docs.slack.dev/reference/block-kit). Slack
// rejects the whole message (invalid_blocks) when one is exceeded, so every
// piece of user-controlled text is cut to fit before it is sent.
const (
	maxBlocks         = 50
	maxSectionText    = 3000
	maxFields         = 10
	maxFieldText      = 2000
	maxHeaderText     = 150
	maxButtonText     = 75
	maxButtonValue    = 2000
	maxConfirmTitle   = 100
	maxConfirmText    = 300
	maxConfirmButton  = 30
	maxFallbackText   = 3000 // Slack accepts far more, but notifications show a line or two
	maxUnhealthyLines = 10
	maxListLine       = 200 // one unhealthy resource or Helm parameter
	maxRevision       = 60  // a branch or tag name shown in code font
)

// Render turns a Message into Slack's fallback text (used by notifications
// and screen readers) and Block Kit blocks. Exactly one field of m must be
// set. All view fields are plain text and are escaped here (including
// DeployRequest.Note and DeployStatus.Message); only Message.Text is mrkdwn
// as given (use Escape for anything user-typed in it). Long text is cut to
// Slack's limits rather than rejected; an error means the view itself is
// wrong (a bug in its caller), so retrying will not help.
func Render(m Message) (text string, blocks []slack.Block, err error) {
	set := 0
	if m.DeployRequest != nil {
		set++
	}
	if m.DeployStatus != nil {
		set++
	}
	if m.Text != "" {
		set++
	}
	if m.Command != nil {
		set++
	}
	if m.SASTRequest != nil {
		set++
	}
	switch {
	case set == 0:
		return "", nil, errors.New("slackui: empty Message: set exactly one of DeployRequest, DeployStatus, Command, SASTRequest or Text")
	case set > 1:
		return "", nil, fmt.Errorf("slackui: Message has %d fields set: set exactly one of DeployRequest, DeployStatus, Command, SASTRequest or Text", set)
	}
	switch {
	case m.DeployRequest != nil:
		text, blocks, err = renderRequest(m.DeployRequest)
	case m.DeployStatus != nil:
		text, blocks, err = renderStatus(m.DeployStatus)
	case m.Command != nil:
		text, blocks, err = renderCommand(m.Command)
	case m.SASTRequest != nil:
		text, blocks, err = renderSASTRequest(m.SASTRequest)
	default:
		text, blocks, err = renderText(m.Text)
	}
	if err != nil {
		return "", nil, err
	}
	if len(blocks) > maxBlocks { // cannot happen with the layouts below; never send what Slack rejects
		return "", nil, fmt.Errorf("slackui: message has %d blocks, Slack allows %d", len(blocks), maxBlocks)
	}
	return Truncate(text, maxFallbackText), blocks, nil
}

// mrkdwnEscaper escapes the three characters Slack's mrkdwn gives a meaning
// to (https://docs.slack.dev/messaging/formatting-message-text#escaping).
var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes s safe to put in mrkdwn: a user-typed "<!channel>" or
// "<https://evil|docs>" is shown as typed instead of pinging or linking.
func Escape(s string) string { return mrkdwnEscaper.Replace(s) }

// Truncate cuts mrkdwn s to at most max characters (runes, as Slack counts
// them), marked with "…". It never splits a rune, an escape such as "&amp;"
// or a <…> token (mention, date, link), and closes an inline code span or a
// ``` block it cut open, so the result still renders.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	r := []rune(s)
	keep := max - 1 // room for "…"
	for keep > 0 {
		cut := trimOpenToken(r[:keep])
		closer := closers(cut)
		if len(cut)+utf8.RuneCountInString(closer)+1 <= max {
			return string(cut) + "…" + closer
		}
		keep = len(cut) - 1
	}
	return "…"
}

// trimOpenToken drops a trailing, unfinished "&amp;"-style escape or <…>
// token: half of one shows as garbage or breaks the rest of the text.
func trimOpenToken(r []rune) []rune {
	lastLT, lastGT, lastAmp, lastSemi := -1, -1, -1, -1
	for i, c := range r {
		switch c {
		case '<':
			lastLT = i
		case '>':
			lastGT = i
		case '&':
			lastAmp = i
		case ';':
			lastSemi = i
		}
	}
	if lastLT > lastGT {
		r = r[:lastLT]
	}
	if lastAmp > lastSemi && lastAmp < len(r) && len(r)-lastAmp < len("&amp;") {
		r = r[:lastAmp]
	}
	return r
}

// closers returns what must follow a cut so formatting does not run on: a
// closing backtick for an open inline code span on the last line, a closing
// fence for an open ``` block.
func closers(r []rune) string {
	s := string(r)
	var out string
	last := s[strings.LastIndexByte(s, '\n')+1:]
	if !strings.Contains(last, "```") && strings.Count(last, "`")%2 == 1 {
		out += "`"
	}
	if strings.Count(s, "```")%2 == 1 {
		out += "\n```"
	}
	return out
}

// code shows s in code font. A backtick would end the span early, a newline
// breaks it, so both are replaced.
func code(s string) string {
	s = strings.NewReplacer("`", "'", "\n", " ", "\r", " ").Replace(s)
	return "`" + Escape(s) + "`"
}

// ShortRev shortens a commit SHA to the 7 characters people recognise;
// branch names, tags and Helm chart versions are kept (cut if very long).
func ShortRev(rev string) string {
	if len(rev) >= 12 && isHex(rev) {
		return rev[:7]
	}
	return Truncate(rev, maxRevision)
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// commitLine is one commit of a request: "to: Bump image to 1.5.0 — jane
// <jane@example.com>\n" (first line of the message, bounded).
func commitLine(which string, c *contract.Commit) string {
	if c == nil {
		return ""
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	line := which + ": " + Escape(Truncate(msg, maxCommitSubject))
	if c.Author != "" {
		line += " — " + Escape(Truncate(c.Author, maxCommitAuthor))
	}
	return line + "\n"
}

// maxCommitSubject and maxCommitAuthor bound a commit's line in a request.
const (
	maxCommitSubject = 100
	maxCommitAuthor  = 60
)

// revCode shows a revision in code font, or says it is unknown.
func revCode(rev string) string {
	if rev == "" {
		return "_unknown_"
	}
	return code(ShortRev(rev))
}

// slackDate lets each reader's Slack client show t in their own time zone;
// the fallback (UTC) is what clients that cannot format dates show.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), plainDate(t))
}

func plainDate(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// link is a mrkdwn link; the URL must not carry "|" or ">" (they end it).
func link(url, label string) string {
	url = strings.NewReplacer("|", "%7C", "&", "&amp;", "<", "%3C", ">", "%3E").Replace(url)
	return "<" + url + "|" + Escape(label) + ">"
}

// FormatElapsed shows a duration the way people read it: "42s", "1m05s",
// "1h02m05s" (rounded to the second; "0s" for less).
func FormatElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = 0
	}
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return strconv.Itoa(s) + "s"
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// section is a mrkdwn section cut to Slack's limit.
func section(blockID, text string, fields ...*slack.TextBlockObject) *slack.SectionBlock {
	var t *slack.TextBlockObject
	if text != "" {
		t = mrkdwn(Truncate(text, maxSectionText))
	}
	if len(fields) > maxFields {
		fields = fields[:maxFields]
	}
	for _, f := range fields {
		f.Text = Truncate(f.Text, maxFieldText)
	}
	return slack.NewSectionBlock(t, fields, nil, slack.SectionBlockOptionBlockID(blockID))
}

// linksBlock is the context line linking to the run in the Temporal UI.
func linksBlock(runURL, workflowID string) slack.Block {
	var parts []string
	if runURL != "" {
		parts = append(parts, link(runURL, "View run in Temporal"))
	}
	if workflowID != "" {
		parts = append(parts, "workflow "+code(workflowID))
	}
	if len(parts) == 0 {
		return nil
	}
	return slack.NewContextBlock(BlockIDLinks, mrkdwn(Truncate(strings.Join(parts, " · "), maxSectionText)))
}

// ActionName is how an action is named in a message: the command word, or
// for a policy change what it does ("auto-sync off"), never the internal
// action name.
func ActionName(a contract.Action) string {
	switch a {
	case contract.ActionAutoSyncOn:
		return "auto-sync on"
	case contract.ActionAutoSyncOff:
		return "auto-sync off"
	}
	return string(a)
}

// Verb is how an action reads in a sentence: "roll back guestbook",
// "turn off auto-sync of guestbook".
func Verb(a contract.Action) string {
	switch a {
	case contract.ActionRollback:
		return "roll back"
	case contract.ActionAutoSyncOn:
		return "turn on auto-sync of"
	case contract.ActionAutoSyncOff:
		return "turn off auto-sync of"
	}
	return string(a)
}

// isPolicyChange: auto-sync on or off changes the app's sync policy, not
// what is deployed, so no revision moves and no health verdict applies.
func isPolicyChange(a contract.Action) bool {
	return a == contract.ActionAutoSyncOn || a == contract.ActionAutoSyncOff
}

func actionEmoji(a contract.Action) string {
	switch a {
	case contract.ActionSync:
		return ":rocket:"
	case contract.ActionRollback:
		return ":rewind:"
	}
	return ":gear:"
}

// renderRequest renders the approval request: what is asked, by whom, what
// it changes, and either the decision buttons or how it was decided.
func renderRequest(r *DeployRequest) (string, []slack.Block, error) {
	if r.App == "" || r.Action == "" {
		return "", nil, errors.New("slackui: DeployRequest needs App and Action")
	}
	if err := checkRequest("DeployRequest", r.State, r.WorkflowID, r.RunID,
		RequestPending, RequestApproved, RequestRejected, RequestExpired, RequestCancelled, RequestRefused, RequestNoApproval); err != nil {
		return "", nil, err
	}
	pending := r.State == RequestPending
	app, requester := Escape(r.App), r.RequestedBy.Mention()
	if requester == "" {
		requester = "someone"
	} else if r.RequestedBy.ID == "" {
		requester = Escape(requester)
	}

	header := fmt.Sprintf("%s %s %s requested", actionEmoji(r.Action), ActionName(r.Action), r.App)
	if r.Emergency != "" {
		header = fmt.Sprintf("🚨 EMERGENCY %s %s requested", ActionName(r.Action), r.App)
	}
	blocks := []slack.Block{slack.NewHeaderBlock(plain(Truncate(header, maxHeaderText)))}
	if r.Emergency != "" {
		blocks = append(blocks, section(BlockIDEmergency, Truncate(emergencyText(r), maxSectionText)))
	}

	// Summary sentence and the facts an approver needs, as fields.
	intro := fmt.Sprintf("%s asks to *%s* %s", requester, Escape(Verb(r.Action)), code(r.App))
	if r.Action == contract.ActionRollback && r.HistoryID != 0 {
		intro += fmt.Sprintf(" to history id *%d*", r.HistoryID)
	}
	intro += "."
	appField := "*App*\n" + code(r.App)
	if r.Project != "" {
		appField += " · project " + code(r.Project)
	}
	action := Escape(ActionName(r.Action))
	if r.Action == contract.ActionRollback && r.HistoryID != 0 {
		action += fmt.Sprintf(" to history id %d", r.HistoryID)
	}
	fields := []*slack.TextBlockObject{mrkdwn(appField), mrkdwn("*Action*\n" + action)}
	switch {
	case isPolicyChange(r.Action) && r.FromRevision != "":
		fields = append(fields, mrkdwn("*Revision*\n"+revCode(r.FromRevision)+" (unchanged)"))
	case !isPolicyChange(r.Action) && (r.FromRevision != "" || r.ToRevision != ""):
		fields = append(fields, mrkdwn("*Revision*\n"+revCode(r.FromRevision)+" → "+revCode(r.ToRevision)))
	}
	if !isPolicyChange(r.Action) && (r.FromCommit != nil || r.ToCommit != nil) {
		fields = append(fields, mrkdwn(Truncate("*Commits*\n"+commitLine("from", r.FromCommit)+commitLine("to", r.ToCommit), maxFieldText)))
	}
	if !r.TargetDeployedAt.IsZero() {
		fields = append(fields, mrkdwn("*Target deployed*\n"+slackDate(r.TargetDeployedAt)))
	}
	autoSync := "off"
	if r.AutoSyncOn {
		autoSync = "on"
		if r.Action == contract.ActionRollback {
			autoSync = ":warning: on (Argo CD refuses a rollback until it is off)"
		}
	}
	fields = append(fields, mrkdwn("*Auto-sync*\n"+autoSync))
	if pending && !r.ExpiresAt.IsZero() {
		fields = append(fields, mrkdwn("*Expires*\n"+slackDate(r.ExpiresAt)))
	}
	blocks = append(blocks, section(BlockIDRequest, intro, fields...))

	if len(r.Params) > 0 || r.ParamsNote != "" {
		blocks = append(blocks, section(BlockIDParams, paramsText(r.Params, r.ParamsNote)))
	}
	if s := PreviewSummary(r.Preview); s != "" {
		blocks = append(blocks, section(BlockIDPreview, Truncate(s, maxSectionText)))
	}

	if r.Approvals != nil {
		blocks = append(blocks, approvalsBlock(r.Approvals))
	}
	if pending {
		blocks = append(blocks, decisionButtons(r))
	} else {
		blocks = append(blocks, section(BlockIDOutcome, requestOutcome(r)))
	}
	if b := linksBlock(r.RunURL, r.WorkflowID); b != nil {
		blocks = append(blocks, b)
	}

	text := fmt.Sprintf("%s %s requested by %s", Escape(ActionName(r.Action)), app, requester)
	if r.Emergency != "" {
		text = "EMERGENCY (break-glass) " + text + ": " + Escape(r.Emergency)
	}
	if r.Action == contract.ActionRollback && r.HistoryID != 0 {
		text = fmt.Sprintf("%s %s to history id %d requested by %s", Escape(string(r.Action)), app, r.HistoryID, requester)
	}
	if !isPolicyChange(r.Action) && (r.FromRevision != "" || r.ToRevision != "") {
		text += fmt.Sprintf(" (%s → %s)", plainRev(r.FromRevision), plainRev(r.ToRevision))
	}
	if pending {
		text += ": waiting for approval"
		if r.Approvals != nil {
			text += " (" + plainProgress(r.Approvals) + ")"
		}
		if !r.ExpiresAt.IsZero() {
			text += " until " + plainDate(r.ExpiresAt)
		}
	} else {
		text += ": " + plainOutcome(r)
	}
	return text, blocks, nil
}

// emergencyText is the break-glass banner: who asked, why, who is told.
func emergencyText(r *DeployRequest) string {
	s := fmt.Sprintf("*Break-glass request* by %s, outside the usual approval rules: %s", r.RequestedBy.Mention(), Escape(r.Emergency))
	if len(r.EmergencyEmailTo) > 0 {
		s += "\nIts outcome is emailed to " + Escape(strings.Join(r.EmergencyEmailTo, ", ")) + "."
	}
	return s
}

// checkRequest checks a request view's state against the valid ones and,
// when it is pending, the workflow id its buttons carry.
func checkRequest(kind string, state RequestState, workflowID, runID string, valid ...RequestState) error {
	switch {
	case state == "":
		return fmt.Errorf("slackui: %s.State is empty: set it, e.g. slackui.RequestPending", kind)
	case !slices.Contains(valid, state):
		return fmt.Errorf("slackui: unknown %s.State %q", kind, state)
	case state == RequestPending && workflowID == "":
		return fmt.Errorf("slackui: a pending %s needs WorkflowID: its buttons carry it", kind)
	case utf8.RuneCountInString(contract.ButtonValue(workflowID, runID)) > maxButtonValue:
		// Cutting the id would route clicks nowhere, so refuse instead.
		return fmt.Errorf("slackui: WorkflowID and RunID are longer than a button value may be (%d characters)", maxButtonValue)
	}
	return nil
}

func plainRev(rev string) string {
	if rev == "" {
		return "unknown"
	}
	return Escape(ShortRev(rev))
}

// paramsText lists Helm parameters one per line, as many as fit in a section.
func paramsText(params []Param, note string) string {
	const title = "*Helm parameters*"
	if len(params) == 0 {
		return title + "\n_" + Escape(strings.TrimSpace(note)) + "_"
	}
	lines := make([]string, len(params))
	for i, p := range params {
		lines[i] = Truncate("• "+code(p.Name)+" = "+code(p.Value), maxListLine)
	}
	return title + "\n" + joinCapped(lines, len(lines), maxSectionText-len(title)-1)
}

// joinCapped joins lines with newlines, keeping at most maxLines and at most
// budget runes, and says how many were left out.
func joinCapped(lines []string, maxLines, budget int) string {
	const moreReserve = 24 // "…and 123456 more"
	var b strings.Builder
	used := 0
	for i, l := range lines {
		n := utf8.RuneCountInString(l) + 1
		if i >= maxLines || used+n > budget-moreReserve {
			fmt.Fprintf(&b, "…and %d more", len(lines)-i)
			return b.String()
		}
		b.WriteString(l)
		b.WriteByte('\n')
		used += n
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// decisionButtons are the Approve and Reject buttons; their value is the
// workflow id, which is all the gateway needs to signal the run.
func decisionButtons(r *DeployRequest) slack.Block {
	what := fmt.Sprintf("This will %s %s", Escape(Verb(r.Action)), code(r.App))
	switch {
	case r.Action == contract.ActionRollback && r.HistoryID != 0 && r.ToRevision != "":
		what += fmt.Sprintf(" to history id %d (%s)", r.HistoryID, revCode(r.ToRevision))
	case r.Action == contract.ActionRollback && r.HistoryID != 0:
		what += fmt.Sprintf(" to history id %d", r.HistoryID)
	case r.ToRevision != "":
		what += " to " + revCode(r.ToRevision)
	}
	what += " in Argo CD."
	confirm := slack.NewConfirmationBlockObject(
		plain(Truncate(fmt.Sprintf("Approve this %s?", ActionName(r.Action)), maxConfirmTitle)),
		mrkdwn(Truncate(what, maxConfirmText)),
		plain(Truncate("Approve", maxConfirmButton)),
		plain(Truncate("Cancel", maxConfirmButton)),
	).WithStyle(slack.StylePrimary)
	value := contract.ButtonValue(r.WorkflowID, r.RunID)
	approve := slack.NewButtonBlockElement(ActionApprove, value, plain(Truncate("Approve", maxButtonText))).
		WithStyle(slack.StylePrimary).WithConfirm(confirm)
	reject := slack.NewButtonBlockElement(ActionReject, value, plain(Truncate("Reject", maxButtonText))).
		WithStyle(slack.StyleDanger)
	return slack.NewActionBlock(BlockIDDecision, approve, reject)
}

// requestOutcome is the line that replaces the buttons once the request is
// no longer pending.
func requestOutcome(r *DeployRequest) string {
	by := ""
	if m := Who(r.DecidedBy); m != "" {
		by = " by " + m
	}
	note := Escape(strings.TrimSpace(r.Note))
	var line string
	switch r.State {
	case RequestApproved:
		line = "✅ Approved" + by
	case RequestNoApproval:
		line = "✅ Runs without approval"
	case RequestRejected:
		line = "❌ Rejected" + by
	case RequestExpired:
		line = "⌛ Expired — nobody decided in time"
		if !r.ExpiresAt.IsZero() {
			line = "⌛ Expired — nobody decided before " + slackDate(r.ExpiresAt)
		}
	case RequestCancelled:
		line = "🚫 Cancelled" + by
	case RequestRefused:
		if note == "" {
			return "⛔ Refused by Argo CD"
		}
		return "⛔ Refused: " + note
	}
	if note != "" {
		line += "\n" + note
	}
	return line
}

// plainOutcome is requestOutcome for the fallback text.
func plainOutcome(r *DeployRequest) string {
	by := ""
	if m := Who(r.DecidedBy); m != "" {
		by = " by " + m
	}
	switch r.State {
	case RequestApproved:
		return "approved" + by
	case RequestNoApproval:
		return "runs without approval"
	case RequestRejected:
		return "rejected" + by
	case RequestExpired:
		return "expired, nobody decided in time"
	case RequestCancelled:
		return "cancelled" + by
	}
	if n := strings.TrimSpace(r.Note); n != "" {
		return "refused: " + Escape(n)
	}
	return "refused by Argo CD"
}

// statusHeadline says where a run stands, with an emoji that reads at a glance.
func statusHeadline(s *DeployStatus) (emoji, label string) {
	switch {
	case s.Outcome == contract.OutcomeSucceeded && s.Action == contract.ActionAutoSyncOn:
		return "✅", "Auto-sync is on"
	case s.Outcome == contract.OutcomeSucceeded && s.Action == contract.ActionAutoSyncOff:
		return "✅", "Auto-sync is off"
	case s.Outcome == "" && s.Step == contract.StepStarting && isPolicyChange(s.Action):
		return "⏳", "Changing the sync policy"
	}
	switch s.Outcome {
	case contract.OutcomeSucceeded:
		return "✅", "Synced and Healthy"
	case contract.OutcomeFailed:
		return "❌", "Failed"
	case contract.OutcomeDegraded:
		return "⚠️", "Degraded"
	case contract.OutcomeTimedOut:
		return "⌛", "Timed out waiting for Healthy"
	case contract.OutcomeRejected:
		return "❌", "Rejected"
	case contract.OutcomeExpired:
		return "⌛", "Expired"
	case contract.OutcomeCancelled:
		return "🚫", "Cancelled"
	case "":
	default:
		return "ℹ️", Escape(string(s.Outcome))
	}
	switch s.Step {
	case contract.StepPreparing:
		return "⏳", "Preparing"
	case contract.StepAwaitingApproval:
		return "⏳", "Waiting for approval"
	case contract.StepDisablingAutoSync:
		return "⏳", "Turning off auto-sync"
	case contract.StepStarting:
		return "⏳", "Starting the " + Escape(ActionName(s.Action))
	case contract.StepFollowing, "":
		return "⏳", "Running"
	case contract.StepDone:
		return "🏁", "Done"
	}
	return "⏳", Escape(strings.ReplaceAll(string(s.Step), "_", " "))
}

// maxStateValue bounds a phase, sync or health value; Argo CD's are one word.
const maxStateValue = 40

// renderStatus renders the one status message of a run, edited as it goes.
func renderStatus(s *DeployStatus) (string, []slack.Block, error) {
	if s.App == "" || s.Action == "" {
		return "", nil, errors.New("slackui: DeployStatus needs App and Action")
	}
	emoji, label := statusHeadline(s)
	app := code(s.App)
	if s.Project != "" {
		app += " (project " + code(s.Project) + ")"
	}
	lines := []string{fmt.Sprintf("%s %s %s: *%s*", emoji, Escape(ActionName(s.Action)), app, label)}

	var state []string
	for _, kv := range [][2]string{{"Phase", s.Phase}, {"Sync", s.SyncStatus}, {"Health", s.Health}} {
		if kv[1] != "" {
			state = append(state, kv[0]+" "+code(Truncate(kv[1], maxStateValue)))
		}
	}
	if len(state) > 0 {
		lines = append(lines, strings.Join(state, " · "))
	}
	var meta []string
	switch {
	case s.Revision != "" && s.FromRevision != "" && s.FromRevision != s.Revision && !isPolicyChange(s.Action):
		meta = append(meta, "Revision "+revCode(s.FromRevision)+" → "+revCode(s.Revision))
	case s.Revision != "":
		meta = append(meta, "Revision "+revCode(s.Revision))
	}
	if s.Elapsed > 0 {
		meta = append(meta, "elapsed "+FormatElapsed(s.Elapsed))
	}
	if len(meta) > 0 {
		lines = append(lines, strings.Join(meta, " · "))
	}
	if c := s.Commit; c != nil && !isPolicyChange(s.Action) {
		lines = append(lines, strings.TrimSuffix(commitLine("Commit", c), "\n"))
	}
	if who := whoLine(s.RequestedBy, s.ApprovedBy); who != "" {
		lines = append(lines, who)
	}
	head := strings.Join(lines, "\n")

	unhealthy := ""
	if len(s.Unhealthy) > 0 {
		items := make([]string, len(s.Unhealthy))
		for i, res := range s.Unhealthy {
			items[i] = Truncate(resourceLine(res), maxListLine)
		}
		unhealthy = "*Not healthy:*\n" + joinCapped(items, maxUnhealthyLines, maxSectionText/2)
	}
	message := ""
	if m := strings.TrimSpace(s.Message); m != "" {
		// The message gets what the fixed lines and the resource list leave.
		budget := maxSectionText - utf8.RuneCountInString(head) - utf8.RuneCountInString(unhealthy) - 2
		message = Truncate(quote(Truncate(Escape(m), budget)), budget)
	}
	body := head
	for _, part := range []string{message, unhealthy} {
		if part != "" {
			body += "\n" + part
		}
	}
	blocks := []slack.Block{section(BlockIDStatus, body)}
	if b := linksBlock(s.RunURL, ""); b != nil {
		blocks = append(blocks, b)
	}

	text := fmt.Sprintf("%s %s %s: %s", emoji, Escape(ActionName(s.Action)), Escape(s.App), label)
	var extra []string
	if s.Revision != "" {
		extra = append(extra, "revision "+Escape(ShortRev(s.Revision)))
	}
	if s.Elapsed > 0 {
		extra = append(extra, FormatElapsed(s.Elapsed))
	}
	if len(extra) > 0 {
		text += " (" + strings.Join(extra, ", ") + ")"
	}
	if s.Outcome != "" && s.Outcome != contract.OutcomeSucceeded && strings.TrimSpace(s.Message) != "" {
		text += " — " + Truncate(Escape(strings.Join(strings.Fields(s.Message), " ")), 300)
	}
	return text, blocks, nil
}

// whoLine says who asked and who approved: "Asked by <@U0ALICE> ·
// approved by <@U0BOB>, <@U0CAROL>".
func whoLine(by contract.User, approvers []contract.User) string {
	var parts []string
	if m := by.Mention(); m != "" {
		parts = append(parts, "Asked by "+m)
	}
	if len(approvers) > 0 {
		names := make([]string, len(approvers))
		for i, u := range approvers {
			names[i] = u.Mention()
		}
		parts = append(parts, "approved by "+strings.Join(names, ", "))
	}
	return strings.Join(parts, " · ")
}

func resourceLine(r contract.Resource) string {
	l := "• " + code(r.Kind+"/"+r.Name)
	if r.Health != "" {
		l += ": " + Escape(r.Health)
	}
	if m := strings.TrimSpace(r.Message); m != "" {
		l += " — " + Escape(strings.Join(strings.Fields(m), " "))
	}
	return l
}

// quote shows a (multi-line) message as a block quote.
func quote(s string) string {
	return "> " + strings.ReplaceAll(s, "\n", "\n> ")
}

// renderText renders a plain mrkdwn message. Text longer than one section
// is split at line breaks over several sections (keeping ``` blocks intact)
// instead of being cut.
func renderText(t string) (string, []slack.Block, error) {
	if strings.TrimSpace(t) == "" {
		return "", nil, errors.New("slackui: Message.Text is blank")
	}
	chunks := splitMrkdwn(t, maxSectionText)
	if len(chunks) > maxBlocks {
		chunks = chunks[:maxBlocks]
		last := chunks[maxBlocks-1]
		chunks[maxBlocks-1] = Truncate(last+"\n…", maxSectionText)
	}
	blocks := make([]slack.Block, 0, len(chunks))
	for _, c := range chunks {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(c), nil, nil))
	}
	return t, blocks, nil
}

// splitMrkdwn splits s at line breaks into pieces of at most max runes.
// A ``` block that spans two pieces is closed at the end of the first and
// reopened at the start of the next; a single line longer than max is cut.
func splitMrkdwn(s string, max int) []string {
	const fence = "```"
	var (
		out     []string
		cur     []string
		curLen  int
		inFence bool // at the end of cur
	)
	flush := func() {
		if len(cur) == 0 {
			return
		}
		piece := strings.Join(cur, "\n")
		if inFence {
			piece += "\n" + fence
		}
		if strings.TrimSpace(piece) != "" {
			out = append(out, piece)
		}
		cur, curLen = nil, 0
		if inFence {
			cur, curLen = []string{fence}, len(fence)
		}
	}
	for _, line := range strings.Split(s, "\n") {
		reserve := 0
		if inFence || strings.Count(line, fence)%2 == 1 {
			reserve = len(fence) + 1
		}
		n := utf8.RuneCountInString(line)
		if n > max-reserve-len(fence)-1 {
			line = Truncate(line, max-reserve-len(fence)-1)
			n = utf8.RuneCountInString(line)
		}
		sep := 0
		if len(cur) > 0 {
			sep = 1
		}
		if curLen+sep+n+reserve > max {
			flush()
			sep = 0
			if len(cur) > 0 {
				sep = 1
			}
		}
		cur = append(cur, line)
		curLen += sep + n
		if strings.Count(line, fence)%2 == 1 {
			inFence = !inFence
		}
	}
	if inFence { // unbalanced fence in the input: leave it as written
		inFence = false
	}
	flush()
	return out
}
