package argocd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The real Argo CD v2.14 server's messages (server/application/application.go).
func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		code      codes.Code
		msg       string
		want      Kind
		retryable bool
	}{
		{codes.FailedPrecondition, "rollback cannot be initiated when auto-sync is enabled", KindAutoSyncEnabled, false},
		{codes.FailedPrecondition, "another operation is already in progress", KindOperationInProgress, false},
		{codes.FailedPrecondition, "something else", KindOther, false},
		{codes.InvalidArgument, "application guestbook does not have deployment with id 99", KindUnknownHistoryID, false},
		{codes.InvalidArgument, "max pods to view logs are reached", KindInvalidArgument, false},
		{codes.NotFound, `applications.argoproj.io "nope" not found`, KindAppNotFound, false},
		{codes.PermissionDenied, "permission denied", KindPermissionDenied, false},
		{codes.Unauthenticated, "invalid session: token is malformed", KindUnauthenticated, false},
		{codes.Unavailable, "connection error", KindUnavailable, true},
		{codes.DeadlineExceeded, "context deadline exceeded", KindUnavailable, true},
		{codes.ResourceExhausted, "slow down", KindOther, true},
		{codes.Internal, "boom", KindOther, false},
		// apiclient's grpc-web proxy: HTTP and transport failures arrive as Unknown.
		{codes.Unknown, "POST https://h/application.ApplicationService/Get failed with status code 503", KindUnavailable, true},
		{codes.Unknown, "POST https://h/application.ApplicationService/Get failed with status code 401", KindUnauthenticated, false},
		{codes.Unknown, "POST https://h/application.ApplicationService/Get failed with status code 403", KindPermissionDenied, false},
		{codes.Unknown, `Post "http://127.0.0.1:1/x": dial tcp 127.0.0.1:1: connect: connection refused`, KindUnavailable, true},
		{codes.Unknown, `Post "https://h/x": tls: failed to verify certificate: x509: certificate signed by unknown authority`, KindTLS, false},
		{codes.Unknown, "no idea", KindOther, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.code, tt.msg), func(t *testing.T) {
			err := classify(context.Background(), opRollback, "guestbook", status.Error(tt.code, tt.msg), false)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not an *Error: %T", err)
			}
			if e.Kind != tt.want || KindOf(err) != tt.want {
				t.Fatalf("kind = %s, want %s", e.Kind, tt.want)
			}
			if e.Code != tt.code || e.Message != tt.msg || e.Op != opRollback || e.App != "guestbook" {
				t.Fatalf("fields: %+v", e)
			}
			if e.Retryable() != tt.retryable {
				t.Fatalf("Retryable = %v, want %v", e.Retryable(), tt.retryable)
			}
		})
	}
}

func TestErrorsIsAndMessages(t *testing.T) {
	err := fmt.Errorf("activity: %w", classify(context.Background(), opRollback, "guestbook",
		status.Error(codes.FailedPrecondition, "rollback cannot be initiated when auto-sync is enabled"), false))
	if !errors.Is(err, ErrAutoSyncEnabled) || errors.Is(err, ErrOperationInProgress) {
		t.Fatal("errors.Is by kind")
	}
	want := "rollback guestbook: Argo CD refused: rollback cannot be initiated when auto-sync is enabled — disable auto-sync first (deploybot can do it: AUTO_DISABLE_SYNC_ON_ROLLBACK=true)"
	if got := errors.Unwrap(err).Error(); got != want {
		t.Fatalf("message:\n got %s\nwant %s", got, want)
	}
	checks := map[error][]string{
		&Error{Kind: KindPermissionDenied, Op: opRollback, App: "x", Message: "permission denied"}:        {"does not exist", "ARGOCD_TOKEN", "sync"},
		&Error{Kind: KindUnauthenticated, Op: opList}:                                                     {"ARGOCD_TOKEN was refused", "argocd account generate-token"},
		&Error{Kind: KindUnknownHistoryID, Op: opRollback, App: "x"}:                                      {"`rollback_revisions x`"},
		&Error{Kind: KindAppNotFound, Op: opGet, App: "x"}:                                                {"list_apps"},
		&Error{Kind: KindUnavailable, Op: opGet, App: "x"}:                                                {"ARGOCD_URL"},
		&Error{Kind: KindTLS, Op: opGet, Message: "x509: certificate signed by unknown authority"}:        {"ARGOCD_VERIFY_SSL", "CA"},
		&Error{Kind: KindTLS, Op: opGet, Message: "tls: first record does not look like a TLS handshake"}: {"http://"},
		ErrOperationInProgress: {"argocd: ", "in progress"},
	}
	for e, subs := range checks {
		for _, s := range subs {
			if !strings.Contains(e.Error(), s) {
				t.Errorf("%q does not mention %q", e.Error(), s)
			}
		}
	}
	if KindOf(nil) != "" || KindOf(errors.New("x")) != KindOther {
		t.Fatal("KindOf")
	}
}

func TestClassifyContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := classify(ctx, opGet, "a", status.Error(codes.Canceled, "context canceled"), false)
	if !errors.Is(err, context.Canceled) || KindOf(err) != KindOther {
		t.Fatalf("cancel: %v (%s)", err, KindOf(err))
	}
	ctx, cancel = context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-ctx.Done()
	err = classify(ctx, opGet, "a", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), false)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("deadline: %v", err)
	}
}

func TestDecodeGRPCMessage(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"100%25 sure":         "100% sure",
		"caf%C3%A9":           "café",
		"bad %zz and trail %": "bad %zz and trail %",
	} {
		if got := decodeGRPCMessage(in); got != want {
			t.Errorf("decode(%q) = %q, want %q", in, got, want)
		}
	}
}
