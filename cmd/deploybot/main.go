// Command deploybot is one binary for every deploybot process: the Slack
// gateway, the Temporal worker, the Argo CD simulator and the local
// playground. Run `deploybot --help` for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Cancelled on Ctrl-C or SIGTERM so servers and workers stop gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the process exit code. Errors
// are printed here, once: cobra is told to print neither errors nor usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var coded *exitError
		if errors.As(err, &coded) {
			if coded.err != nil {
				fmt.Fprintln(stderr, "deploybot: "+coded.err.Error())
			}
			return coded.code
		}
		fmt.Fprintln(stderr, "deploybot: "+err.Error())
		return 1
	}
	return 0
}

// exitError ends the process with a chosen exit code, for commands whose
// codes are a contract (`sast wait`: 1 means rejected, so bad usage must
// not be 1). err, if set, is printed like any other error.
type exitError struct {
	code int
	err  error
}

// Error is the wrapped error's message.
func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}
