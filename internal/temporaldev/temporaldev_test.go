package temporaldev_test

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/temporaldev"
	"github.com/deploybot/deploybot/internal/testenv"
)

func TestStartDeclaresSearchAttributesAndRestartKeepsHistory(t *testing.T) {
	bin := testenv.TemporalCLI(t)
	db := filepath.Join(t.TempDir(), "temporal.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv, err := temporaldev.Start(ctx, temporaldev.Options{Binary: bin, DBFile: db, UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: srv.Address})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range contract.SearchAttributes() {
		want := enums.INDEXED_VALUE_TYPE_KEYWORD
		if sa.Type == "KeywordList" {
			want = enums.INDEXED_VALUE_TYPE_KEYWORD_LIST
		}
		if got := resp.CustomAttributes[sa.Name]; got != want {
			t.Errorf("search attribute %s: type %v, want %v", sa.Name, got, want)
		}
	}
	// A workflow started now must still be listed after a restart on the same file.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "keep-me", TaskQueue: "nobody-polls"}, "SomeWorkflow")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	pid := srv.PID()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("temporal process %d still alive after Stop", pid)
	}

	srv2, err := temporaldev.Start(ctx, temporaldev.Options{Binary: bin, DBFile: db, UIPort: -1})
	if err != nil {
		t.Fatalf("second start on the same database: %v", err)
	}
	defer srv2.Stop(context.Background())
	c2, err := client.Dial(client.Options{HostPort: srv2.Address})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	desc, err := c2.WorkflowService().DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
		Namespace: "default",
		Execution: &commonpb.WorkflowExecution{WorkflowId: "keep-me", RunId: run.GetRunID()},
	})
	if err != nil {
		t.Fatalf("workflow started before the restart is gone: %v", err)
	}
	if desc.WorkflowExecutionInfo.Status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("status after restart = %v, want Running", desc.WorkflowExecutionInfo.Status)
	}
}

func TestStartReportsChildFailure(t *testing.T) {
	bin := testenv.TemporalCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := temporaldev.Start(ctx, temporaldev.Options{Binary: bin, UIPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Stop(context.Background())
	// Same port again must be refused before a second server is even started.
	_, port, _ := net.SplitHostPort(first.Address)
	p, _ := strconv.Atoi(port)
	_, err = temporaldev.Start(ctx, temporaldev.Options{Binary: bin, Port: p, UIPort: -1, StartTimeout: 30 * time.Second})
	if err == nil {
		t.Fatal("second server on a taken port started")
	}
	if !strings.Contains(err.Error(), "is taken") {
		t.Errorf("error does not say the port is taken: %v", err)
	}
}

func TestFindBinaryMissingSaysHowToInstall(t *testing.T) {
	_, err := temporaldev.FindBinary(filepath.Join(t.TempDir(), "nope"))
	if err == nil || !strings.Contains(err.Error(), "go install github.com/temporalio/cli/cmd/temporal@v1.5.1") {
		t.Fatalf("error = %v, want install instructions", err)
	}
}
