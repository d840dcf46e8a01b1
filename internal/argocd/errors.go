package argocd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind classifies an Argo CD failure so workflows can branch on it. The values
// are stable strings: they become Temporal ApplicationError types.
type Kind string

// The kinds of failure deploybot distinguishes.
const (
	// KindAutoSyncEnabled means Argo CD refuses a rollback while spec.syncPolicy.automated is set.
	KindAutoSyncEnabled Kind = "ArgoCDAutoSyncEnabled"
	// KindOperationInProgress means another sync/rollback of the app is still running.
	KindOperationInProgress Kind = "ArgoCDOperationInProgress"
	// KindUnknownHistoryID means the rollback id is not in status.history.
	KindUnknownHistoryID Kind = "ArgoCDUnknownHistoryID"
	// KindAppNotFound means the application does not exist.
	KindAppNotFound Kind = "ArgoCDAppNotFound"
	// KindPermissionDenied means RBAC refused the call (Argo CD also says this for apps that do not exist).
	KindPermissionDenied Kind = "ArgoCDPermissionDenied"
	// KindUnauthenticated means the token was refused.
	KindUnauthenticated Kind = "ArgoCDUnauthenticated"
	// KindUnavailable means Argo CD could not be reached or did not answer in time; retrying may help.
	KindUnavailable Kind = "ArgoCDUnavailable"
	// KindInvalidArgument means Argo CD rejected the request as malformed.
	KindInvalidArgument Kind = "ArgoCDInvalidArgument"
	// KindTLS means the TLS handshake failed (untrusted certificate, or TLS against a plaintext server).
	// Not retryable: it needs a configuration change.
	KindTLS Kind = "ArgoCDTLS"
	// KindOther means anything else.
	KindOther Kind = "ArgoCDError"
)

// Error is a failed Argo CD call. Error() says what failed and what to do.
type Error struct {
	// Kind is the classification workflows branch on.
	Kind Kind
	// Op is the operation that failed, e.g. "rollback".
	Op string
	// App is the application the operation was about ("" for list).
	App string
	// Code is the gRPC status code (codes.Unavailable for transport failures).
	Code codes.Code
	// Message is Argo CD's own message, or the transport error text.
	Message string

	cause error
}

// Sentinels for errors.Is; (*Error).Is matches any *Error of the same Kind.
var (
	// ErrAutoSyncEnabled matches errors of KindAutoSyncEnabled.
	ErrAutoSyncEnabled = &Error{Kind: KindAutoSyncEnabled}
	// ErrOperationInProgress matches errors of KindOperationInProgress.
	ErrOperationInProgress = &Error{Kind: KindOperationInProgress}
	// ErrUnknownHistoryID matches errors of KindUnknownHistoryID.
	ErrUnknownHistoryID = &Error{Kind: KindUnknownHistoryID}
	// ErrAppNotFound matches errors of KindAppNotFound.
	ErrAppNotFound = &Error{Kind: KindAppNotFound}
	// ErrPermissionDenied matches errors of KindPermissionDenied.
	ErrPermissionDenied = &Error{Kind: KindPermissionDenied}
	// ErrUnauthenticated matches errors of KindUnauthenticated.
	ErrUnauthenticated = &Error{Kind: KindUnauthenticated}
	// ErrUnavailable matches errors of KindUnavailable.
	ErrUnavailable = &Error{Kind: KindUnavailable}
	// ErrInvalidArgument matches errors of KindInvalidArgument.
	ErrInvalidArgument = &Error{Kind: KindInvalidArgument}
	// ErrTLS matches errors of KindTLS.
	ErrTLS = &Error{Kind: KindTLS}
)

// Is reports whether target is an *Error of the same Kind, so that
// errors.Is(err, ErrAutoSyncEnabled) works for any rollback refusal.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind
}

// Unwrap returns the underlying cause (e.g. context.Canceled, an x509 error), if any.
func (e *Error) Unwrap() error { return e.cause }

// Retryable reports whether retrying the same call later may succeed.
// OperationInProgress is deliberately not retryable here: whether to wait for
// the running operation is the workflow's decision, not the activity's.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindUnavailable:
		return true
	case KindOther:
		return e.Code == codes.ResourceExhausted || e.Code == codes.Aborted
	}
	return false
}

// Error says what failed, Argo CD's reason, and what to do about it.
func (e *Error) Error() string {
	prefix := strings.TrimSpace(e.Op + " " + e.App)
	if prefix == "" {
		prefix = "argocd"
	}
	msg := e.Message
	or := func(def string) string {
		if msg == "" {
			return def
		}
		return msg
	}
	var s string
	switch e.Kind {
	case KindAutoSyncEnabled:
		s = "Argo CD refused: " + or("rollback cannot be initiated when auto-sync is enabled") +
			" — disable auto-sync first (deploybot can do it: AUTO_DISABLE_SYNC_ON_ROLLBACK=true)"
	case KindOperationInProgress:
		s = "Argo CD refused: " + or("another operation is already in progress") +
			" — wait for the running operation to finish (or terminate it in Argo CD), then try again"
	case KindUnknownHistoryID:
		s = "Argo CD refused: " + or("no deployment with that id") +
			" — pick an id from " + backtick("rollback_revisions", e.App)
	case KindAppNotFound:
		s = "application not found (" + or("not found") + ") — check the name with `list_apps`"
	case KindPermissionDenied:
		s = "Argo CD denied permission (" + or("permission denied") + ") — either the application does not exist " +
			"(Argo CD answers \"permission denied\" for unknown apps too; check `list_apps`) or the account behind " +
			"ARGOCD_TOKEN lacks the RBAC permission " + rbacHint(e.Op)
	case KindUnauthenticated:
		s = "ARGOCD_TOKEN was refused (" + or("unauthenticated") + "): create a new token with " +
			"`argocd account generate-token --account <account>` and update ARGOCD_TOKEN"
	case KindUnavailable:
		s = "Argo CD is unavailable (" + or("unavailable") + ") — check ARGOCD_URL and that Argo CD is up and reachable; retrying later may help"
	case KindTLS:
		s = "TLS connection to Argo CD failed (" + or("handshake failed") + ") — " + tlsHint(msg)
	case KindInvalidArgument:
		s = "Argo CD rejected the request: " + or("invalid argument")
	default:
		s = fmt.Sprintf("Argo CD error (%s): %s", e.Code, or("unknown error"))
		if strings.Contains(msg, "failed with status code 404") {
			// gRPC-Web request to a path nothing serves.
			s += " — check the path in ARGOCD_URL (it is the gRPC-Web root path) or unset ARGOCD_GRPC_WEB"
		}
	}
	return prefix + ": " + s
}

func backtick(cmd, app string) string {
	if app == "" {
		return "`" + cmd + "`"
	}
	return "`" + cmd + " " + app + "`"
}

// rbacHint names the Argo CD RBAC action the operation needs, so the operator
// can fix the policy without reading Argo CD's source.
func rbacHint(op string) string {
	switch op {
	case opSync, opRollback:
		return "(needs `applications, sync` on the app; rollback is authorized as sync)"
	case opDisableAutoSync, opEnableAutoSync:
		return "(needs `applications, update` on the app)"
	case opHelmParameters:
		return "(needs `applications, get` on the app and `repositories, get` on its repo)"
	case opPodLogs:
		// Argo CD 3.0 enforces logs RBAC always; 2.x only with server.rbac.log.enforce.enable.
		return "(needs `applications, get` on the app and, from Argo CD 3.0, `logs, get`: add `p, role:deploybot, logs, get, */*, allow` to argocd-rbac-cm, as deploy/argocd/policy.csv does)"
	case "":
		return ""
	default:
		return "(needs `applications, get` on the app)"
	}
}

func tlsHint(msg string) string {
	switch {
	case strings.Contains(msg, "first record does not look like a TLS handshake"),
		strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "the server speaks plaintext: use http:// in ARGOCD_URL"
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate"):
		return "set ARGOCD_CA_FILE to the CA that signed Argo CD's certificate (e.g. /etc/deploybot/argocd/ca.crt; an in-cluster argocd-server's self-signed default is tls.crt of the argocd-secret Secret), or ARGOCD_VERIFY_SSL=false (insecure)"
	default:
		return "check ARGOCD_URL's scheme (https:// vs http://) and ARGOCD_VERIFY_SSL"
	}
}

// KindOf returns the Kind of err: "" for nil, KindOther for errors that are
// not *Error.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// Operation names used in Error.Op.
const (
	opList            = "list apps"
	opGet             = "get"
	opSync            = "sync"
	opRollback        = "rollback"
	opDisableAutoSync = "disable auto-sync"
	opEnableAutoSync  = "enable auto-sync"
	opResourceTree    = "resource tree"
	opRevisionMeta    = "revision metadata"
	opManaged         = "managed resources"
	opManifests       = "manifests"
	opSyncWindows     = "sync windows"
	opPodLogs         = "pod logs"
	opHelmParameters  = "helm parameters"
	opVersion         = "version"
)

// classify turns any error from apiclient (gRPC status, grpc-web proxy error,
// dial/TLS error, ctx error) into an *Error. grpcWeb enables decoding of the
// percent-encoded grpc-message header that apiclient passes through verbatim.
func classify(ctx context.Context, op, app string, err error, grpcWeb bool) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Op: op, App: app, cause: err}
	// The caller's context decides first: a cancelled activity must not look
	// like an Argo CD outage.
	if ctx != nil && ctx.Err() != nil {
		e.cause = ctx.Err()
		if errors.Is(ctx.Err(), context.Canceled) {
			e.Kind, e.Code, e.Message = KindOther, codes.Canceled, "cancelled by caller"
			return e
		}
		e.Kind, e.Code = KindUnavailable, codes.DeadlineExceeded
		e.Message = "no answer before the deadline"
		return e
	}
	if isTLSError(err) {
		e.Kind, e.Code, e.Message = KindTLS, codes.Unavailable, err.Error()
		return e
	}
	if isNetError(err) {
		e.Kind, e.Code, e.Message = KindUnavailable, codes.Unavailable, err.Error()
		return e
	}
	st, ok := status.FromError(err)
	if !ok {
		e.Kind, e.Code, e.Message = KindOther, codes.Unknown, err.Error()
		return e
	}
	e.cause = nil
	e.Code = st.Code()
	e.Message = st.Message()
	if grpcWeb {
		e.Message = decodeGRPCMessage(e.Message)
	}
	e.Kind = kindFromStatus(e.Code, e.Message)
	if e.Code == codes.DeadlineExceeded {
		// The server (or apiclient's grpc-web proxy) may end the call on the
		// propagated grpc-timeout a moment before our ctx timer fires; it is
		// still our deadline.
		e.cause = context.DeadlineExceeded
	}
	return e
}

func kindFromStatus(code codes.Code, msg string) Kind {
	switch code {
	case codes.FailedPrecondition:
		switch {
		case strings.Contains(msg, "auto-sync is enabled"):
			return KindAutoSyncEnabled
		case strings.Contains(msg, "another operation is already in progress"):
			return KindOperationInProgress
		}
		return KindOther
	case codes.InvalidArgument:
		if strings.Contains(msg, "does not have deployment with id") {
			return KindUnknownHistoryID
		}
		return KindInvalidArgument
	case codes.NotFound:
		return KindAppNotFound
	case codes.PermissionDenied:
		return KindPermissionDenied
	case codes.Unauthenticated:
		return KindUnauthenticated
	case codes.Unavailable, codes.DeadlineExceeded:
		if looksTLS(msg) {
			return KindTLS
		}
		return KindUnavailable
	case codes.Unknown:
		// apiclient's grpc-web proxy reports HTTP and transport failures as
		// plain errors, which gRPC turns into Unknown: recover their meaning.
		return kindFromTransportText(msg)
	}
	return KindOther
}

func kindFromTransportText(msg string) Kind {
	switch {
	case strings.Contains(msg, "failed with status code 401"):
		return KindUnauthenticated
	case strings.Contains(msg, "failed with status code 403"):
		return KindPermissionDenied
	case strings.Contains(msg, "failed with status code 502"),
		strings.Contains(msg, "failed with status code 503"),
		strings.Contains(msg, "failed with status code 504"):
		return KindUnavailable
	case looksTLS(msg):
		return KindTLS
	}
	for _, s := range []string{
		"connection refused", "no such host", "i/o timeout", "connection reset",
		"network is unreachable", "EOF", "broken pipe", "server misbehaving",
	} {
		if strings.Contains(msg, s) {
			return KindUnavailable
		}
	}
	return KindOther
}

func looksTLS(msg string) bool {
	return strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:") ||
		strings.Contains(msg, "server gave HTTP response to HTTPS client")
}

func isTLSError(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		rerr tls.RecordHeaderError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	if errors.As(err, &verr) || errors.As(err, &rerr) || errors.As(err, &uerr) ||
		errors.As(err, &herr) || errors.As(err, &cerr) {
		return true
	}
	// Only look at text when the error is not a gRPC status: a status message
	// is Argo CD's and is classified by code.
	if _, ok := status.FromError(err); !ok {
		return looksTLS(err.Error())
	}
	return false
}

func isNetError(err error) bool {
	var (
		operr  *net.OpError
		dnserr *net.DNSError
	)
	return errors.As(err, &operr) || errors.As(err, &dnserr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// decodeGRPCMessage undoes the percent-encoding gRPC applies to grpc-message
// (apiclient's grpc-web proxy copies the header without decoding it).
func decodeGRPCMessage(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
