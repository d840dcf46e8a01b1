package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/playground"
	"github.com/deploybot/deploybot/internal/runsapi"
	"github.com/deploybot/deploybot/internal/slackui"
)

// driver plays the people: alice asks in Slack, bob decides with a button
// or through the runs API, SonarQube delivers failed gates. Like people it
// tries again when told something did not go through.
type driver struct {
	st   *stack
	opts Options
	plan *plan
	http http.Client
	api  *runsapi.Client
}

func (d *driver) drive(ctx context.Context) {
	d.http = http.Client{Timeout: 20 * time.Second}
	api, err := runsapi.NewClient(d.st.gwURL, apiToken, &d.http)
	if err != nil { // the URL is ours; cannot happen
		panic(err)
	}
	d.api = api
	start := time.Now()
	var wg sync.WaitGroup
	for _, r := range d.plan.requests {
		goAt(ctx, &wg, start.Add(r.startAt), func() { d.request(ctx, r) })
	}
	for _, g := range d.plan.gates {
		goAt(ctx, &wg, start.Add(g.deliverAt), func() { d.gate(ctx, g) })
	}
	wg.Wait()
}

// goAt runs fn in a goroutine of wg at t, unless ctx ends first.
func goAt(ctx context.Context, wg *sync.WaitGroup, t time.Time, fn func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if sleepUntil(ctx, t) {
			fn()
		}
	}()
}

// request asks for r in the channel until its run exists, then decides as
// planned.
func (d *driver) request(ctx context.Context, r *request) {
	deadline := time.Now().Add(d.opts.ApprovalTimeout + time.Minute)
	text := fmt.Sprintf("<@%s> %s", d.st.slack.BotUser().ID, r.command())
	for !r.started && time.Now().Before(deadline) && ctx.Err() == nil {
		_ = d.playground(ctx, "say", map[string]string{"user": requester, "text": text})
		// Only a run that does not exist is asked for again: Temporal being
		// away is no reason to ask twice.
		for time.Now().Before(deadline) && ctx.Err() == nil {
			exists, err := d.runExists(ctx, r.workflowID())
			if err == nil {
				r.started = exists
				break
			}
			sleep(ctx, time.Second)
		}
		if !r.started {
			sleep(ctx, 2*time.Second)
		}
	}
	if !r.started || r.fate == fateExpire {
		return
	}
	expires, waiting := d.awaitRequest(ctx, deployChannel, r.workflowID(), deadline)
	if !waiting {
		r.decideNote = "never seen waiting for approval"
		return
	}
	deadline = decideMoment(ctx, expires, r.decideAt, r.late)
	approve := r.fate == fateApprove
	if r.via == viaAPI {
		r.decided, r.decideNote = d.decideByAPI(ctx, r.workflowID(), approve, deadline)
	} else {
		r.decided, r.decideNote = d.decideByClick(ctx, r, approve, deadline)
	}
}

// gate delivers one failed quality gate as SonarQube would, then decides.
func (d *driver) gate(ctx context.Context, g *gate) {
	deadline := time.Now().Add(d.opts.ApprovalTimeout + time.Minute)
	for g.workflowID == "" && time.Now().Before(deadline) && ctx.Err() == nil {
		var ans struct {
			OK   bool   `json:"ok"`
			Body string `json:"body"`
		}
		if err := d.playgroundAnswer(ctx, "sonarqube", map[string]string{"gate": "ERROR", "branch": g.branch}, &ans); err == nil && ans.OK {
			var body struct {
				WorkflowID string `json:"workflowId"`
			}
			if json.Unmarshal([]byte(ans.Body), &body) == nil {
				g.workflowID, g.deliveredAt = body.WorkflowID, time.Now()
			}
		}
		if g.workflowID == "" {
			sleep(ctx, 2*time.Second) // SonarQube itself never retries; CI would re-run the analysis
		}
	}
	if g.workflowID == "" || g.fate == fateExpire {
		return
	}
	expires, waiting := d.awaitRequest(ctx, sastChannel, g.workflowID, deadline)
	if !waiting {
		g.decideNote = "never seen waiting for a decision"
		return
	}
	deadline = decideMoment(ctx, expires, g.decideAt, false)
	g.decided, g.decideNote = d.decideByAPI(ctx, g.workflowID, g.fate == fateApprove, deadline)
}

// decideByAPI posts the decision until the runs API answers it: a 2xx is
// taken, a 409 means the run no longer waits, 5xx and no answer are tried
// again.
func (d *driver) decideByAPI(ctx context.Context, id string, approve bool, deadline time.Time) (bool, string) {
	word := runsapi.DecisionReject
	if approve {
		word = runsapi.DecisionApprove
		if strings.HasPrefix(id, contract.SASTWorkflowPrefix) {
			word = runsapi.DecisionAccept
		}
	}
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := d.api.Decide(cctx, id, runsapi.DecisionRequest{Decision: word})
		cancel()
		if err == nil {
			return true, ""
		}
		var ae *runsapi.APIError
		if errors.As(err, &ae) && !ae.Retryable() {
			return false, "runs API: " + ae.Error()
		}
		last = err
		sleep(ctx, time.Second)
	}
	return false, fmt.Sprintf("runs API never took it before the deadline (last: %v)", last)
}

// decideByClick clicks the button on the run's request message, and again
// whenever the run still waits a while later (the gateway says when a click
// was not recorded; a person clicks again).
func (d *driver) decideByClick(ctx context.Context, r *request, approve bool, deadline time.Time) (bool, string) {
	action := slackui.ActionReject
	if approve {
		action = slackui.ActionApprove
	}
	last := "its request message never showed the button"
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ts, value, ok := d.button(deployChannel, r.workflowID(), action)
		if !ok {
			sleep(ctx, time.Second)
			continue
		}
		last = "clicked, but the run's status could not be read"
		if err := d.playground(ctx, "click", map[string]string{"user": approver, "message_ts": ts, "action_id": action, "value": value}); err != nil {
			last = err.Error()
		}
		for wait := time.Now().Add(10 * time.Second); time.Now().Before(wait) && ctx.Err() == nil; sleep(ctx, 2*time.Second) {
			st, err := d.status(ctx, r.workflowID())
			switch {
			case err != nil:
				continue
			case st.DecidedBy != nil:
				return true, ""
			case st.Step != contract.StepAwaitingApproval:
				return false, "the run stopped waiting (" + string(st.Step) + ") before the click was recorded"
			}
		}
	}
	return false, "no click was recorded before the deadline (last: " + last + ")"
}

// button finds the request message of the run in channel and the value of
// its button with action ("" = any of its buttons).
func (d *driver) button(channel, workflowID, action string) (ts, value string, ok bool) {
	for _, m := range d.st.slack.Messages(channel) {
		var blocks []struct {
			Elements []struct {
				ActionID string `json:"action_id"`
				Value    string `json:"value"`
			} `json:"elements"`
		}
		if json.Unmarshal(m.Blocks, &blocks) != nil {
			continue
		}
		for _, b := range blocks {
			for _, e := range b.Elements {
				if wf, _ := contract.ParseButtonValue(e.Value); (action == "" || e.ActionID == action) && wf == workflowID {
					ts, value, ok = m.TS, e.Value, true // the newest such message wins
				}
			}
		}
	}
	return ts, value, ok
}

func (d *driver) status(ctx context.Context, id string) (contract.DeployStatus, error) {
	var st contract.DeployStatus
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := d.st.tc.QueryWorkflow(cctx, id, "", contract.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	return st, err
}

// awaitRequest waits until the run's request message, with its buttons,
// is in channel (as a person would) and returns when the request expires.
// Watching Slack rather than querying the run keeps the drill from loading
// the worker it is testing.
func (d *driver) awaitRequest(ctx context.Context, channel, workflowID string, deadline time.Time) (time.Time, bool) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if ts, _, ok := d.button(channel, workflowID, ""); ok {
			return slackTime(ts).Add(d.opts.ApprovalTimeout), true
		}
		sleep(ctx, time.Second)
	}
	return time.Time{}, false
}

// slackTime is the time a message ts ("1733123456.000100") stands for.
func slackTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, _ := strconv.ParseInt(sec, 10, 64)
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return time.Unix(s, us*1000)
}

// decideMoment sleeps until frac of the time left before expires has gone
// (late: until about the expiry) and returns how long to keep trying.
func decideMoment(ctx context.Context, expires time.Time, frac float64, late bool) (deadline time.Time) {
	at := time.Now().Add(time.Duration(frac * float64(time.Until(expires))))
	if late {
		at = expires.Add(time.Duration((frac/0.7*4 - 2) * float64(time.Second))) // expiry ± 2 s
	}
	sleepUntil(ctx, at)
	return expires.Add(10 * time.Second)
}

func (d *driver) runExists(ctx context.Context, id string) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := d.st.tc.DescribeWorkflowExecution(cctx, id, "")
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &nf):
		return false, nil
	}
	return false, err
}

// playground posts to the Slack stand-in's page API, which sends the
// gateway what Slack would.
func (d *driver) playground(ctx context.Context, what string, body any) error {
	return d.playgroundAnswer(ctx, what, body, nil)
}

func (d *driver) playgroundAnswer(ctx context.Context, what string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.st.gwURL+playground.Prefix+"/api/"+what, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("playground %s: %s: %s", what, resp.Status, bytes.TrimSpace(raw))
	}
	return nil
}

// ---- faults ----

type faultLog struct {
	mu  sync.Mutex
	out []string
	t0  time.Time
}

func (f *faultLog) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.t0.IsZero() {
		f.t0 = time.Now()
	}
	f.out = append(f.out, fmt.Sprintf("%6.1fs  ", time.Since(f.t0).Seconds())+fmt.Sprintf(format, args...))
}

func (f *faultLog) lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.out...)
}

// injectFaults breaks things on a random schedule within the window: the
// worker is SIGKILLed every few seconds (and started again), Temporal is
// restarted once, Argo CD is down for ArgoCDDown, Slack answers 429 and then
// 500 for a while, SMTP is gone for SMTPDown.
func (d *driver) injectFaults(ctx context.Context, rng *rand.Rand, log *faultLog) {
	o := d.opts
	log.add("start: worker 1 running")
	start := time.Now()
	at := func(frac float64) time.Time { return start.Add(time.Duration(float64(o.Window) * frac)) }
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }

	type event struct {
		at time.Time
		do func()
	}
	var events []event
	// Argo CD goes away once most requests wait, so the outage meets
	// approved runs (what must ride it out), not only new requests.
	argoAt := start.Add(between(o.Window*4/10, max(o.Window-o.ArgoCDDown, o.Window*4/10)))
	events = append(events,
		event{argoAt, func() { d.st.sim.SetDown(true); log.add("Argo CD down for %s", o.ArgoCDDown) }},
		event{argoAt.Add(o.ArgoCDDown), func() { d.st.sim.SetDown(false); log.add("Argo CD back") }},
	)
	temporalAt := at(0.2 + 0.3*rng.Float64())
	events = append(events, event{temporalAt, func() {
		log.add("Temporal dev server restarting")
		rctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if err := d.st.restartTemporal(rctx); err != nil {
			log.add("Temporal restart FAILED: %v", err)
			return
		}
		log.add("Temporal dev server back")
	}})
	slackAt := at(0.1 + 0.4*rng.Float64())
	events = append(events,
		event{slackAt, func() {
			d.st.slack.RateLimitNext("*", o.SlackFaults, 2*time.Second)
			log.add("Slack: next %d calls answer 429 (Retry-After 2s)", o.SlackFaults)
		}},
		event{slackAt.Add(10 * time.Second), func() {
			d.st.slack.FailNext("*", o.SlackFaults, "internal_error")
			log.add("Slack: next %d calls answer 500", o.SlackFaults)
		}},
	)
	mailAt := at(0.3 + 0.3*rng.Float64())
	events = append(events,
		event{mailAt, func() { d.st.stopMail(); log.add("SMTP down for %s", o.SMTPDown) }},
		event{mailAt.Add(o.SMTPDown), func() {
			if err := d.st.startMail(); err != nil {
				log.add("SMTP restart FAILED: %v", err)
				return
			}
			log.add("SMTP back")
		}},
	)
	// Worker kills: every 3-10 s until the window ends, down 0.2-1.5 s each.
	for t := start.Add(between(2*time.Second, 5*time.Second)); t.Before(start.Add(o.Window)); t = t.Add(between(3*time.Second, 10*time.Second)) {
		down := between(200*time.Millisecond, 1500*time.Millisecond)
		events = append(events, event{t, func() {
			d.st.killWorker()
			sleep(ctx, down)
			if err := d.st.startWorker(); err != nil {
				log.add("worker restart FAILED: %v", err)
				return
			}
			d.st.workerMu.Lock()
			n := d.st.workers
			d.st.workerMu.Unlock()
			log.add("worker SIGKILLed, worker %d started %s later", n, down.Round(time.Millisecond))
		}})
	}
	var wg sync.WaitGroup
	for _, e := range events {
		goAt(ctx, &wg, e.at, e.do)
	}
	wg.Wait()
}

// heal ends every fault still in force.
func (s *stack) heal() {
	s.sim.SetDown(false) // Slack's faults are counted calls: they run out by themselves
	s.mailMu.Lock()
	down := s.mail == nil
	s.mailMu.Unlock()
	if down {
		_ = s.startMail()
	}
	s.workerMu.Lock()
	none := s.worker == nil
	s.workerMu.Unlock()
	if none {
		_ = s.startWorker()
	}
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	return sleep(ctx, time.Until(t))
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
