package chaos

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/deploybot/deploybot/internal/contract"
)

// fate is what the drill does with a request once it waits for approval.
type fate string

const (
	fateApprove fate = "approve"
	fateReject  fate = "reject"
	fateExpire  fate = "expire" // nobody decides
)

// via is how a decision reaches the run: a button click through the
// gateway's Slack endpoint (a signal), or the runs API (an update).
type via string

const (
	viaClick via = "click"
	viaAPI   via = "api"
)

// request is one planned deploy request and what became of it.
type request struct {
	app      string
	rollback bool
	fate     fate
	via      via
	startAt  time.Duration // after the drill starts
	// decideAt is when to decide, as a fraction of the time left until the
	// request expires once it waits; late requests are decided around the
	// expiry instead, where a decision may rightly not count.
	decideAt float64
	late     bool

	// Filled by the driver.
	started    bool
	decided    bool   // the run took the driver's decision
	decideNote string // why no decision was taken, when one was planned
}

func (r *request) workflowID() string { return contract.DeployWorkflowID(r.app) }

func (r *request) command() string {
	if r.rollback {
		return "rollback " + r.app + " 1"
	}
	return "sync " + r.app
}

// gate is one failed quality gate delivery and the decision planned for it.
type gate struct {
	branch    string // two gates share one: the later supersedes the earlier
	deliverAt time.Duration
	fate      fate    // approve = accept the risk
	decideAt  float64 // as request.decideAt

	workflowID  string
	deliveredAt time.Time // when the gateway took it
	decided     bool
	decideNote  string
}

type plan struct {
	requests []*request
	gates    []*gate
}

// newPlan draws the schedule: requests start in the first 40% of the
// window, half are approved, a fifth rejected, the rest expire; decisions
// come at random moments while the request waits (some after the approval
// timeout, which must then not count).
func newPlan(rng *rand.Rand, o Options) *plan {
	p := &plan{}
	for i := range o.Runs {
		r := &request{
			app:      fmt.Sprintf("app-%03d", i+1),
			rollback: rng.IntN(3) == 0,
			startAt:  time.Duration(rng.Int64N(int64(o.Window * 4 / 10))),
			via:      viaClick,
		}
		switch n := rng.IntN(10); {
		case n < 5:
			r.fate = fateApprove
		case n < 7:
			r.fate = fateReject
		default:
			r.fate = fateExpire
		}
		if rng.IntN(2) == 0 {
			r.via = viaAPI
		}
		// Mostly well inside the approval timeout; one in ten around it.
		r.decideAt, r.late = 0.7*rng.Float64(), rng.IntN(10) == 0
		p.requests = append(p.requests, r)
	}
	// Gates come in pairs on a branch: the second analysis supersedes the
	// first (whose decision, if any, then comes too late); the second is
	// accepted or rejected, so every drill sends decision emails.
	for i := range o.Gates {
		g := &gate{branch: fmt.Sprintf("chaos-%d", i/2), deliverAt: time.Duration(rng.Int64N(int64(o.Window / 2))), decideAt: 0.5 * rng.Float64()}
		switch n := rng.IntN(3); {
		case i%2 == 1:
			g.deliverAt = p.gates[i-1].deliverAt + 2*time.Second + time.Duration(rng.Int64N(int64(8*time.Second)))
			g.fate = []fate{fateApprove, fateReject}[i/2%2]
		case n == 0:
			g.fate = fateApprove
		case n == 1:
			g.fate = fateReject
		default:
			g.fate = fateExpire
		}
		p.gates = append(p.gates, g)
	}
	return p
}
