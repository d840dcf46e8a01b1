package worker_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/deploybot/deploybot/internal/testenv"
	"github.com/deploybot/deploybot/worker"
)

// TestCheckSearchAttributes: the dev server's namespace declares them all;
// a fresh namespace lacks them, and one declared with the wrong type (an
// old Keyword Approvers) is named too, with the command that fixes it.
func TestCheckSearchAttributes(t *testing.T) {
	srv := testenv.StartTemporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tc, err := client.Dial(client.Options{HostPort: srv.Address, Logger: testenv.TemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	log := slog.New(slog.DiscardHandler)
	if err := worker.CheckSearchAttributes(ctx, tc, srv.Namespace, log); err != nil {
		t.Fatalf("the dev server's namespace: %v", err)
	}

	if _, err := tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: "bare", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: "bare", SearchAttributes: map[string]enumspb.IndexedValueType{"Approvers": enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	}); err != nil {
		t.Fatal(err)
	}
	err = worker.CheckSearchAttributes(ctx, tc, "bare", log)
	for _, want := range []string{"namespace bare lacks", "DeployApp (Keyword)", "Approvers (declared", "must be KeywordList",
		"temporal operator search-attribute create --namespace bare --name SastOutcome --type Keyword"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckSearchAttributes(bare) = %v, want it to say %q", err, want)
		}
	}

	var buf bytes.Buffer
	if err := worker.CheckSearchAttributes(ctx, tc, "no-such-namespace", slog.New(slog.NewTextHandler(&buf, nil))); err != nil || !strings.Contains(buf.String(), "could not list") {
		t.Errorf("an unreadable list: err %v, log %q; want a warning only", err, buf.String())
	}
}
