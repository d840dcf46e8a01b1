// Package temporalconn turns deploybot's TEMPORAL_* settings into a Temporal
// client connection: plaintext for a local dev server, TLS (with an API key,
// mTLS certificates, or a private CA) for a cluster or Temporal Cloud. The gateway and the worker
// both connect through it so they behave the same.
package temporalconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
)

// Settings is what a Temporal connection needs; it mirrors the TEMPORAL_*
// environment variables, which carry the names of Temporal's own tools.
type Settings struct {
	Address   string // TEMPORAL_ADDRESS, host:port
	Namespace string // TEMPORAL_NAMESPACE
	APIKey    string // TEMPORAL_API_KEY (Temporal Cloud); implies TLS
	// TLS is TEMPORAL_TLS: TLS without an API key or client certificate
	// (a self-hosted frontend with a server certificate only).
	TLS          bool
	TLSCertFile  string // TEMPORAL_TLS_CLIENT_CERT_PATH, client certificate for mTLS
	TLSKeyFile   string // TEMPORAL_TLS_CLIENT_KEY_PATH, its private key
	ServerCAFile string // TEMPORAL_TLS_SERVER_CA_CERT_PATH, CA of a private frontend certificate
	ServerName   string // TEMPORAL_TLS_SERVER_NAME, name the frontend's certificate is verified against
	Identity     string // worker/client identity shown in the Temporal UI; "" = SDK default
	Logger       *slog.Logger
	// MetricsHandler receives the SDK's metrics (the worker's /metrics); nil = none.
	MetricsHandler client.MetricsHandler
}

// tlsOn reports whether the settings ask for TLS, explicitly or by a setting
// that only works over TLS.
func (s Settings) tlsOn() bool {
	return s.TLS || s.APIKey != "" || s.TLSCertFile != "" || s.TLSKeyFile != "" || s.ServerCAFile != "" || s.ServerName != ""
}

// ClientOptions builds the SDK client options for s with the SDK's own
// envconfig, so TLS means exactly what it means to Temporal's CLI. Without
// TLS settings the connection is plaintext, as the local dev server expects.
func ClientOptions(s Settings) (client.Options, error) {
	if s.Address == "" {
		return client.Options{}, errors.New("TEMPORAL_ADDRESS is empty: set it to your Temporal frontend, e.g. localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233")
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return client.Options{}, errors.New("TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together: give both the client certificate and its key (PEM files)")
	}
	profile := envconfig.ClientConfigProfile{Address: s.Address, Namespace: s.Namespace, APIKey: s.APIKey}
	if s.tlsOn() {
		profile.TLS = &envconfig.ClientConfigTLS{
			ClientCertPath: s.TLSCertFile, ClientKeyPath: s.TLSKeyFile,
			ServerCACertPath: s.ServerCAFile, ServerName: s.ServerName,
		}
	}
	opts, err := profile.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		// envconfig reads the files here, so a wrong one fails before any dial.
		return client.Options{}, fmt.Errorf("Temporal TLS (TEMPORAL_TLS_CLIENT_CERT_PATH=%q, TEMPORAL_TLS_CLIENT_KEY_PATH=%q, TEMPORAL_TLS_SERVER_CA_CERT_PATH=%q): %w; give PEM files: the certificate and key of one pair, and the CA that signed the frontend's certificate",
			s.TLSCertFile, s.TLSKeyFile, s.ServerCAFile, err)
	}
	opts.Identity = s.Identity
	if s.Logger != nil {
		opts.Logger = tlog.NewStructuredLogger(s.Logger)
	}
	if s.MetricsHandler != nil {
		opts.MetricsHandler = s.MetricsHandler
	}
	return opts, nil
}

// Dial connects to Temporal and checks the frontend answers, so a wrong
// address fails at start with a message that says what to do.
func Dial(ctx context.Context, s Settings) (client.Client, error) {
	opts, err := ClientOptions(s)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %q): %w; start a local server with `make run` or point TEMPORAL_ADDRESS at your cluster", s.Address, s.Namespace, err)
	}
	return c, nil
}

// DialLazy builds a client that connects on first use, for a process that
// must start and answer while Temporal is down (the gateway tells Slack
// users; a crash loop would leave them with connection errors).
func DialLazy(s Settings) (client.Client, error) {
	opts, err := ClientOptions(s)
	if err != nil {
		return nil, err
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, fmt.Errorf("Temporal client for %s (namespace %q): %w", s.Address, s.Namespace, err)
	}
	return c, nil
}

// WaitReady polls the server until it answers a health check and the
// namespace exists, or ctx ends. A freshly started dev server accepts
// connections a little before its namespace is registered.
func WaitReady(ctx context.Context, c client.Client, namespace string) error {
	var last error
	for {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, last = c.CheckHealth(hctx, &client.CheckHealthRequest{})
		if last == nil {
			_, last = c.WorkflowService().DescribeNamespace(hctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		}
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Temporal is not ready (namespace %q): %w", namespace, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
