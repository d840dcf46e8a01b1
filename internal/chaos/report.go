package chaos

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/contract"
)

// Report is what a chaos run found.
type Report struct {
	Seed uint64
	Took time.Duration
	// Rows count the deploy requests by planned fate.
	Rows []Row
	// Gates counts the quality gates by outcome.
	Gates map[contract.Outcome]int
	// Messages is how many messages deploybot posted; DuplicateMessages how
	// many of them repeat another's idempotency key.
	Messages, DuplicateMessages int
	// Emails is how many decision emails arrived; DuplicateEmails repeats.
	Emails, DuplicateEmails int
	// ResentEmails are copies with a Message-ID already received.
	ResentEmails int
	// Faults is the timeline of what was broken when.
	Faults []string
	// WorkerKills counts SIGKILLs; WorkerExits workers that exited by
	// themselves (no Temporal at start) and were started again.
	WorkerKills, WorkerExits int
	// Undelivered counts why planned decisions did not reach their run.
	Undelivered map[string]int
	// Violations are the broken promises, one line each.
	Violations []string
}

// Row is one fate's line in the table.
type Row struct {
	Fate     string
	Runs     int
	Final    int
	Outcomes map[contract.Outcome]int
	// WantOps is how many Argo CD operations the outcomes call for; Ops how
	// many the simulator started.
	WantOps, Ops int
	Late         int // decisions that came too late and rightly did not count
	// RefusedAtRequest counts requests that failed before anyone could
	// decide (Argo CD unreachable when they came).
	RefusedAtRequest int
	Violations       int
}

// settle waits until every run has ended, then checks every promise.
func (d *driver) settle(ctx context.Context) *Report {
	rep := &Report{Gates: map[contract.Outcome]int{}, Undelivered: map[string]int{}}
	violate := func(format string, args ...any) {
		rep.Violations = append(rep.Violations, fmt.Sprintf(format, args...))
	}
	deadline := time.Now().Add(d.opts.ApprovalTimeout + d.opts.HealthTimeout + 2*time.Minute)

	rows := map[fate]*Row{}
	for _, f := range []fate{fateApprove, fateReject, fateExpire} {
		rows[f] = &Row{Fate: string(f), Outcomes: map[contract.Outcome]int{}}
		rep.Rows = append(rep.Rows, *rows[f])
	}
	for _, r := range d.plan.requests {
		row := rows[r.fate]
		row.Runs++
		bad := func(format string, args ...any) {
			row.Violations++
			violate(r.app+" ("+r.command()+", "+string(r.fate)+" by "+string(r.via)+"): "+format, args...)
		}
		if !r.started {
			bad("the request never started a run")
			continue
		}
		var res contract.DeployResult
		if err := d.await(ctx, r.workflowID(), deadline, &res); err != nil {
			bad("%v", err)
			continue
		}
		// Counted once the run is final: read earlier, an operation the run
		// starts later is missed (a "succeeded with 0 operations" the drill
		// once reported was that).
		ops := d.st.sim.Operations(r.app)
		row.Ops += ops
		row.Final++
		row.Outcomes[res.Outcome]++
		// Approved means exactly one operation, whatever came after.
		approved := res.DecidedBy != nil && res.Outcome != contract.OutcomeRejected
		wantOps := 0
		if approved {
			wantOps = 1
		}
		row.WantOps += wantOps
		if ops != wantOps {
			bad("ended %s with %d Argo CD operations, want %d", res.Outcome, ops, wantOps)
		}
		switch {
		case res.Outcome == contract.OutcomeFailed && res.DecidedBy == nil:
			// Argo CD could not be read when the request came: the asker is
			// told so at once; nothing was approved, nothing done.
			row.RefusedAtRequest++
		case res.Outcome == contract.OutcomeExpired && r.fate != fateExpire:
			if r.decided {
				bad("the run took the decision (%s) but ended expired", r.via)
			} else {
				row.Late++ // it came at or after the timeout: rightly not counted
				rep.Undelivered[r.decideNote]++
			}
		case r.fate == fateApprove && res.Outcome != contract.OutcomeSucceeded:
			bad("approved, but ended %s (%s): an approved deploy must ride out the faults", res.Outcome, res.Message)
		case r.fate == fateReject && res.Outcome != contract.OutcomeRejected:
			bad("rejected, but ended %s", res.Outcome)
		case r.fate == fateExpire && res.Outcome != contract.OutcomeExpired:
			bad("nobody decided, but it ended %s", res.Outcome)
		}
	}
	for i := range rep.Rows {
		rep.Rows[i] = *rows[fate(rep.Rows[i].Fate)]
	}

	d.checkGates(ctx, deadline, rep, violate)
	d.checkMessages(rep, violate)
	return rep
}

func (d *driver) checkGates(ctx context.Context, deadline time.Time, rep *Report, violate func(string, ...any)) {
	// Every run final first: a decision's email is sent at its run's end,
	// so a mailbox read earlier misses it.
	results := make([]*contract.QualityGateResult, len(d.plan.gates))
	for i, g := range d.plan.gates {
		if g.workflowID == "" {
			continue
		}
		var res contract.QualityGateResult
		if err := d.await(ctx, g.workflowID, deadline, &res); err != nil {
			violate("%s: %v", g.workflowID, err)
			continue
		}
		results[i] = &res
	}
	// An email is the same one when its Message-ID is: SMTP cannot tell a
	// sender killed before the 250 that the message arrived, so a resend
	// with the same id is at-least-once delivery, not a second email.
	mails := map[string]int{}
	seen := map[string]bool{}
	for _, m := range d.st.emails() {
		rep.Emails++
		if m.Header == nil {
			continue
		}
		if id := m.Header.Get("Message-Id"); seen[id] {
			rep.ResentEmails++
			continue
		} else {
			seen[id] = true
		}
		mails[m.Header.Get("X-Deploybot-Run")]++
	}
	// Per branch, the newest delivered failure must stand (not superseded),
	// and an older one may stand beside it only if it was decided before
	// the newer one came (that decision was about its own failure).
	newest := map[string]int{}
	for i, g := range d.plan.gates {
		if results[i] == nil {
			continue
		}
		if j, ok := newest[g.branch]; !ok || g.deliveredAt.After(d.plan.gates[j].deliveredAt) {
			newest[g.branch] = i
		}
	}
	for i, g := range d.plan.gates {
		if g.workflowID == "" {
			violate("a failed quality gate was never taken by the gateway")
			continue
		}
		if results[i] == nil {
			continue // not final: reported above
		}
		res := *results[i]
		rep.Gates[res.Outcome]++
		if g.fate != fateExpire && !g.decided && res.DecidedBy == nil {
			rep.Undelivered["quality gate: "+g.decideNote]++
		}
		decided := res.Outcome == contract.OutcomeAccepted || res.Outcome == contract.OutcomeRejected
		switch {
		case newest[g.branch] == i && res.SupersededBy != "":
			violate("%s: the newest failure of branch %s was superseded by %s", g.workflowID, g.branch, res.SupersededBy)
		case newest[g.branch] != i && res.SupersededBy == "" && !decided:
			violate("%s: an older failure of branch %s ended %s beside the newest one, undecided and not superseded", g.workflowID, g.branch, res.Outcome)
		}
		switch {
		case res.Outcome == contract.OutcomePassed:
			violate("%s: a failed gate ended passed", g.workflowID)
		case res.Outcome == contract.OutcomeAccepted && (g.fate != fateApprove || res.DecidedBy == nil):
			violate("%s: accepted without an accept decision", g.workflowID)
		case res.Outcome == contract.OutcomeRejected && g.fate != fateReject:
			violate("%s: rejected without a reject decision", g.workflowID)
		case res.Outcome == contract.OutcomeSuperseded && res.SupersededBy == "":
			violate("%s: superseded by nothing", g.workflowID)
		case g.decided && res.Outcome != contract.OutcomeAccepted && res.Outcome != contract.OutcomeRejected:
			violate("%s: took the drill's decision, but ended %s", g.workflowID, res.Outcome)
		}
		n := mails[g.workflowID]
		switch {
		case decided && n == 0:
			violate("%s: decided %s, but no email arrived (%s)", g.workflowID, res.Outcome, res.EmailError)
		case n > 1:
			rep.DuplicateEmails += n - 1
			violate("%s: %d decision emails, want 1", g.workflowID, n)
		case !decided && n > 0:
			violate("%s: ended %s, yet %d decision emails were sent", g.workflowID, res.Outcome, n)
		}
	}
}

// checkMessages: every message deploybot posts carries an idempotency key
// in its metadata; two with one key are one message posted twice.
func (d *driver) checkMessages(rep *Report, violate func(string, ...any)) {
	for _, ch := range []string{deployChannel, sastChannel} {
		seen := map[string]int{}
		for _, m := range d.st.slack.Messages(ch) {
			if m.Metadata == nil || m.Metadata.EventType != activities.SlackMetadataEventType {
				continue
			}
			rep.Messages++
			key, _ := m.Metadata.EventPayload["key"].(string)
			seen[key]++
		}
		for key, n := range seen {
			if n > 1 {
				rep.DuplicateMessages += n - 1
				violate("message %q posted %d times in %s", key, n, ch)
			}
		}
	}
}

// await waits until the run with id has closed and decodes its result.
func (d *driver) await(ctx context.Context, id string, deadline time.Time, out any) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		desc, err := d.st.tc.DescribeWorkflowExecution(cctx, id, "")
		cancel()
		if err == nil {
			switch s := desc.WorkflowExecutionInfo.GetStatus(); s {
			case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := d.st.tc.GetWorkflow(gctx, id, "").Get(gctx, out); err != nil {
					return fmt.Errorf("read the result: %w", err)
				}
				return nil
			default:
				return fmt.Errorf("the run ended %s, not with a result", strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
			}
		}
		if time.Now().After(deadline) || !sleep(ctx, time.Second) {
			return fmt.Errorf("not final by the deadline (last: %v)", err)
		}
	}
}

// Print writes the table, the fault timeline and the violations.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nchaos run, seed %d, %s\n\nfaults:\n", r.Seed, r.Took.Round(time.Second))
	for _, f := range r.Faults {
		fmt.Fprintln(w, "  "+f)
	}
	fmt.Fprintf(w, "  workers: %d SIGKILLed, %d exited by themselves and were restarted\n\n", r.WorkerKills, r.WorkerExits)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "decision\truns\tfinal\toutcomes\tArgo CD ops (want/got)\tlate decisions\tfailed before approval\tviolations")
	total := Row{Fate: "total", Outcomes: map[contract.Outcome]int{}}
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d/%d\t%d\t%d\t%d\n", row.Fate, row.Runs, row.Final, outcomes(row.Outcomes), row.WantOps, row.Ops, row.Late, row.RefusedAtRequest, row.Violations)
		total.Runs += row.Runs
		total.Final += row.Final
		total.WantOps += row.WantOps
		total.Ops += row.Ops
		total.Late += row.Late
		total.RefusedAtRequest += row.RefusedAtRequest
		total.Violations += row.Violations
		for k, v := range row.Outcomes {
			total.Outcomes[k] += v
		}
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d/%d\t%d\t%d\t%d\n", total.Fate, total.Runs, total.Final, outcomes(total.Outcomes), total.WantOps, total.Ops, total.Late, total.RefusedAtRequest, total.Violations)
	_ = tw.Flush()
	if len(r.Undelivered) > 0 {
		fmt.Fprintln(w, "\nlate decisions, why the run did not take them:")
		for why, n := range r.Undelivered {
			fmt.Fprintf(w, "  %3d  %s\n", n, why)
		}
	}
	fmt.Fprintf(w, "\nquality gates: %s\n", outcomes(r.Gates))
	fmt.Fprintf(w, "messages posted: %d, duplicated: %d\n", r.Messages, r.DuplicateMessages)
	fmt.Fprintf(w, "decision emails: %d, duplicated: %d, re-sent copies of one Message-ID: %d\n", r.Emails, r.DuplicateEmails, r.ResentEmails)
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "\nno violations")
		return
	}
	fmt.Fprintf(w, "\n%d VIOLATIONS:\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintln(w, "  "+v)
	}
}

func outcomes(m map[contract.Outcome]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[contract.Outcome(k)])
	}
	return strings.Join(parts, ", ")
}
