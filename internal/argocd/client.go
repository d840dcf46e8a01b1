// Package argocd is the Argo CD client deploybot's activities use. It is a thin
// layer over argo-cd's own pkg/apiclient (gRPC, or gRPC-Web through apiclient's
// local proxy) that adds per-call context handling, URL/TLS configuration with
// clear errors, and typed errors (see Kind) that workflows branch on.
package argocd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apiclient"
	versionpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/version"
	"github.com/golang/protobuf/ptypes/empty"
	grpc_retry "github.com/grpc-ecosystem/go-grpc-middleware/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Options configures a Client. The fields mirror deploybot's environment.
type Options struct {
	// URL is ARGOCD_URL: "https://argocd.example.com", "http://host:port"
	// (plaintext), or "host:port" (TLS). A path ("https://example.com/argocd")
	// is the gRPC-Web root path and implies GRPCWeb.
	URL string
	// Token is ARGOCD_TOKEN, an Argo CD API (bearer) token.
	Token string
	// GRPCWeb is ARGOCD_GRPC_WEB: talk gRPC-Web over HTTP/1.1, for ingresses
	// that do not pass HTTP/2 gRPC through.
	GRPCWeb bool
	// VerifySSL is ARGOCD_VERIFY_SSL. false skips certificate verification and
	// logs a warning once at New.
	VerifySSL bool
	// CAFile is ARGOCD_CA_FILE: a PEM CA bundle that Argo CD's certificate is
	// verified against instead of the system roots (as the argocd CLI's
	// --server-crt), e.g. the CA of an in-cluster argocd-server.
	CAFile string
	// CACertPEM is the same bundle given as bytes (tests); CAFile wins.
	CACertPEM []byte
	// UserAgent is sent with every call; default "deploybot".
	UserAgent string
	// Logger receives configuration warnings; default slog.Default().
	Logger *slog.Logger
}

// Client talks to one Argo CD server. It is safe for concurrent use. Every
// method opens its own connection through apiclient (whose closer pattern
// requires that) and closes it before returning.
type Client struct {
	api     apiclient.Client
	grpcWeb bool
	log     *slog.Logger
	closed  atomic.Bool
}

// errClosed is returned by calls on a closed Client.
var errClosed = errors.New("argocd: client is closed")

// endpoint is ARGOCD_URL parsed into what apiclient.ClientOptions wants.
type endpoint struct {
	addr      string // host:port, always with a port
	plainText bool
	rootPath  string // gRPC-Web root path without slashes, "" if none
}

const urlExample = "e.g. https://argocd.example.com"

func urlError(format string, a ...any) error {
	return fmt.Errorf("ARGOCD_URL is not a valid URL: %s, %s", fmt.Sprintf(format, a...), urlExample)
}

// parseURL accepts the three spellings of ARGOCD_URL the old bot accepted
// plus a path prefix, and rejects anything apiclient would misread silently.
func parseURL(raw string) (endpoint, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return endpoint{}, urlError("it is empty")
	}
	if !strings.Contains(raw, "://") {
		// "host:port" means TLS, like the argocd CLI's --server. Without a
		// scheme a path is more likely a typo ("https//host") than a prefix.
		if strings.ContainsAny(raw, "/?#@ ") {
			return endpoint{}, urlError("%q has no scheme (use https://host[:port][/path] or http://host:port)", raw)
		}
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, urlError("%v", err)
	}
	var ep endpoint
	defPort := "443"
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		ep.plainText, defPort = true, "80"
	default:
		return endpoint{}, urlError("scheme %q is not supported (use https:// or http://)", u.Scheme)
	}
	if u.User != nil {
		return endpoint{}, urlError("credentials in the URL are not supported (put the token in ARGOCD_TOKEN)")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return endpoint{}, urlError("%q has a query or fragment", raw)
	}
	host := u.Hostname()
	if host == "" {
		return endpoint{}, urlError("%q has no host", raw)
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return endpoint{}, urlError("%q has an empty port", raw)
		}
		port = defPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return endpoint{}, urlError("port %q is not a number between 1 and 65535", port)
	}
	ep.addr = net.JoinHostPort(host, port)
	ep.rootPath = strings.Trim(u.Path, "/")
	return ep, nil
}

// New validates opts and builds a Client. Connections are made per call, so
// Argo CD may be down (connection refused) when New runs. For native gRPC,
// New first checks for at most preflightTimeout that the endpoint speaks gRPC
// at all, and fails with advice if it does not (see preflight).
func New(opts Options) (*Client, error) {
	ep, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	token := strings.TrimSpace(opts.Token)
	// People paste the Authorization header value; apiclient wants the bare token.
	if f := strings.Fields(token); len(f) > 0 && strings.EqualFold(f[0], "bearer") {
		token = strings.Join(f[1:], " ")
	}
	if token == "" {
		// apiclient would silently fall back to $ARGOCD_AUTH_TOKEN; refuse instead.
		return nil, errors.New("ARGOCD_TOKEN is empty: create a token with `argocd account generate-token --account <account>`")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "deploybot"
	}
	grpcWeb := opts.GRPCWeb || ep.rootPath != "" // a path prefix only works over gRPC-Web
	co := &apiclient.ClientOptions{
		ServerAddr:      ep.addr,
		PlainText:       ep.plainText,
		Insecure:        !opts.VerifySSL && !ep.plainText,
		AuthToken:       token,
		UserAgent:       ua,
		GRPCWeb:         grpcWeb,
		GRPCWebRootPath: ep.rootPath,
		// An empty ConfigPath means "no local argocd CLI config": a worker must
		// not pick up whatever ~/.config/argocd happens to hold.
		ConfigPath: "",
	}
	caPEM := opts.CACertPEM
	switch {
	case opts.CAFile != "":
		if caPEM, err = os.ReadFile(opts.CAFile); err != nil {
			return nil, fmt.Errorf("read ARGOCD_CA_FILE: %w; give the path of the PEM CA certificate that signed Argo CD's certificate, e.g. /etc/deploybot/argocd/ca.crt", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("ARGOCD_CA_FILE=%s holds no PEM certificate: give the CA certificate (-----BEGIN CERTIFICATE-----) that signed Argo CD's certificate", opts.CAFile)
		}
		co.CertFile = opts.CAFile
	case len(caPEM) > 0:
		if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
			return nil, errors.New("Argo CD CA certificate: no PEM certificate found in CACertPEM")
		}
		// apiclient only takes a path; it reads the file inside NewClient, so
		// the temp file can go as soon as NewClient returns.
		path, cleanup, err := writeTempCA(caPEM)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		co.CertFile = path
	}
	if !grpcWeb {
		if err := preflight(opts.URL, ep, co.Insecure, caPEM, ua); err != nil {
			return nil, err
		}
	}
	api, err := apiclient.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("argocd client for %s: %w", opts.URL, err)
	}
	if co.Insecure {
		logger.Warn("ARGOCD_VERIFY_SSL=false: Argo CD's TLS certificate is not verified; anyone on the network path can impersonate Argo CD and read ARGOCD_TOKEN",
			"url", opts.URL)
	}
	return &Client{api: api, grpcWeb: grpcWeb, log: logger}, nil
}

func writeTempCA(pem []byte) (string, func(), error) {
	f, err := os.CreateTemp("", "deploybot-argocd-ca-*.pem")
	if err != nil {
		return "", nil, fmt.Errorf("argocd CA certificate: %w", err)
	}
	cleanup := func() { _ = os.Remove(f.Name()) }
	if _, err := f.Write(pem); err != nil {
		_ = f.Close()
		cleanup()
		return "", nil, fmt.Errorf("argocd CA certificate: %w", err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("argocd CA certificate: %w", err)
	}
	return f.Name(), cleanup, nil
}

// Close marks the client closed; later calls fail. Connections are per call,
// so there is nothing else to release. Close is idempotent.
func (c *Client) Close() error {
	c.closed.Store(true)
	return nil
}

// callOpts go on every RPC. apiclient installs a retry interceptor (3 tries,
// 1 s apart, on Unavailable); deploybot's activities own retries, so a call
// here is one attempt and fails fast.
var callOpts = []grpc.CallOption{grpc_retry.Disable()}

type dialResult[T any] struct {
	closer io.Closer
	client T
	err    error
}

// open runs one of apiclient's New*Client constructors so that it honours
// ctx: apiclient dials with context.Background() (a blocking dial), so the
// dial runs in a goroutine and an abandoned connection is closed when it
// eventually arrives.
func open[T any](ctx context.Context, c *Client, op, app string, newFn func() (io.Closer, T, error)) (T, func(), error) {
	var zero T
	if c.closed.Load() {
		return zero, nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return zero, nil, classify(ctx, op, app, err, c.grpcWeb)
	}
	ch := make(chan dialResult[T], 1)
	go func() {
		closer, client, err := newFn()
		ch <- dialResult[T]{closer, client, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			if r.closer != nil {
				_ = r.closer.Close()
			}
			return zero, nil, classify(ctx, op, app, r.err, c.grpcWeb)
		}
		return r.client, func() { _ = r.closer.Close() }, nil
	case <-ctx.Done():
		// The goroutine ends when apiclient's dial does: at once for refused
		// or TLS failures, never if a peer accepts TCP but never speaks HTTP/2
		// (New's preflight rules that out at start).
		c.log.Debug("argocd: call ended before its connection was ready; closing it when it is", "op", op, "app", app)
		go func() {
			if r := <-ch; r.closer != nil {
				_ = r.closer.Close()
			}
		}()
		return zero, nil, classify(ctx, op, app, ctx.Err(), c.grpcWeb)
	}
}

// preflightTimeout bounds New's check that the endpoint speaks gRPC.
const preflightTimeout = 5 * time.Second

// preflight guards against a hang inside apiclient.NewClient: for native gRPC
// it probes the server with a blocking dial on context.Background(), which
// never returns when TCP (and TLS) succeed but no HTTP/2 gRPC server answers
// (http:// against a TLS port, an HTTP/1.1-only proxy, a silent peer). One
// Version call with a deadline tells these apart from a server that is merely
// down, which fails fast in apiclient too and is left to the per-call errors.
func preflight(rawURL string, ep endpoint, insecureTLS bool, caPEM []byte, ua string) error {
	creds := insecure.NewCredentials()
	if !ep.plainText {
		cfg := &tls.Config{InsecureSkipVerify: insecureTLS} //nolint:gosec // ARGOCD_VERIFY_SSL=false, warned about in New
		if len(caPEM) > 0 {
			// Only the given CA, as apiclient trusts it.
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(caPEM)
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(ep.addr, grpc.WithTransportCredentials(creds), grpc.WithUserAgent(ua))
	if err != nil {
		return fmt.Errorf("argocd client for %s: %w", rawURL, err)
	}
	defer func() { _ = conn.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), preflightTimeout)
	defer cancel()
	_, err = versionpkg.NewVersionServiceClient(conn).Version(ctx, &empty.Empty{})
	st, _ := status.FromError(err)
	switch {
	case err == nil:
		return nil
	case st.Code() == codes.Unavailable && fastDialFailure(st.Message()):
		return nil
	case st.Code() == codes.Unavailable && !transportFailure(st.Message()):
		// A gRPC server (or the proxy in front of it) answered "unavailable":
		// Argo CD is down, not misconfigured. A worker must start anyway and
		// let its activities retry, or it crash-loops through the outage.
		return nil
	case st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded:
		return fmt.Errorf("ARGOCD_URL=%s does not answer gRPC (%s): if Argo CD serves TLS use https://, "+
			"if a proxy or ingress in front of it does not pass gRPC set ARGOCD_GRPC_WEB=true, "+
			"and check that Argo CD is reachable from here", rawURL, st.Message())
	default:
		return nil // any gRPC status (Unimplemented, Unauthenticated, ...) means a gRPC server answered
	}
}

// transportFailure reports an Unavailable that grpc-go made itself because
// the connection failed (no HTTP/2, a bad preface), not one a server sent.
func transportFailure(msg string) bool {
	return strings.HasPrefix(msg, "connection error") || strings.Contains(msg, "transport:")
}

// fastDialFailure reports connection errors that apiclient's dial also
// reports at once (refused, DNS, TLS handshake), unlike protocol mismatches.
func fastDialFailure(msg string) bool {
	for _, s := range []string{
		"connection refused", "no such host", "name resolver", "network is unreachable",
		"authentication handshake failed",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
