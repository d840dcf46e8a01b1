package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/deploybot/deploybot/activities"
	"github.com/deploybot/deploybot/internal/argocd"
)

// Nil receivers that name activities; the worker registers real ones.
var (
	argoActivities  *activities.ArgoCD
	slackActivities *activities.Slack
)

// argoUserErrors are Argo CD errors that no retry can fix: the workflow
// reports them instead of retrying.
var argoUserErrors = []string{
	string(argocd.KindAppNotFound), string(argocd.KindPermissionDenied),
	string(argocd.KindUnauthenticated), string(argocd.KindInvalidArgument),
	string(argocd.KindUnknownHistoryID), string(argocd.KindTLS),
}

// summarized is opts with the line the Temporal UI shows for the call.
func summarized(opts workflow.ActivityOptions, summary string) workflow.ActivityOptions {
	opts.Summary = summary
	return opts
}

// readOnlyActivityOptions fit a read that a person is waiting for in Slack:
// short attempts, a few quick retries, and no retry of errors that cannot heal.
var readOnlyActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        10 * time.Second,
		MaximumAttempts:        5,
		NonRetryableErrorTypes: argoUserErrors,
	},
}

// startOperationOptions: the call that changes the app. Refusals
// (auto-sync on, another operation running) go back to the workflow at once;
// StartOperation itself makes retries safe (it checks whether an earlier
// attempt already reached Argo CD).
var startOperationOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    15 * time.Second,
		MaximumAttempts:    6,
		NonRetryableErrorTypes: append([]string{
			string(argocd.KindAutoSyncEnabled), string(argocd.KindOperationInProgress),
		}, argoUserErrors...),
	},
}

// pollOptions are for one look at the app while following an operation. A
// poll keeps retrying (Argo CD may be down for a while) until the health
// deadline, which the caller sets as ScheduleToCloseTimeout.
func pollOptions(remaining time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		ScheduleToCloseTimeout: remaining,
		StartToCloseTimeout:    30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Second,
			NonRetryableErrorTypes: argoUserErrors,
		},
	}
}

// slackActivityOptions: Slack posts and edits. Rate limits come back with
// their Retry-After as the next retry delay; permanent Slack errors
// (channel not found, bot not in channel, ...) are not retried.
var slackActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    15 * time.Second,
	ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.SlackErrorType},
	},
}

// supersedeOptions: listing and signalling older runs through Temporal;
// quick retries, then give up (it is best effort).
var supersedeOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		MaximumAttempts:        8,
		NonRetryableErrorTypes: []string{activities.TemporalErrorType},
	},
}

// emailNonRetryable are SMTP answers no retry can fix (5xx, TLS or AUTH
// misconfiguration, a message that cannot be built).
var emailNonRetryable = []string{activities.EmailRejectedErrorType, activities.EmailBadMessageErrorType}

// emailFirstOptions: the first round of sending the decision email, short
// enough that people hear about a problem within minutes.
var emailFirstOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: 3 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        2 * time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        30 * time.Second,
		NonRetryableErrorTypes: emailNonRetryable,
	},
}

// emailRetryOptions: the second round, after the thread was told the email
// is late; an SMTP outage of up to emailRetryFor is ridden out.
var emailRetryOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    time.Minute,
	ScheduleToCloseTimeout: emailRetryFor,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        30 * time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        5 * time.Minute,
		NonRetryableErrorTypes: emailNonRetryable,
	},
}
