// Package temporalconn turns deploybot's TEMPORAL_* settings into a Temporal
// client connection: plaintext for a local dev server, TLS with an API key or
// mTLS certificates for a cluster or Temporal Cloud. The gateway and the worker
// both connect through it so they behave the same.
package temporalconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// Settings is what a Temporal connection needs; it mirrors the TEMPORAL_*
// environment variables.
type Settings struct {
	Address     string // TEMPORAL_ADDRESS, host:port
	Namespace   string // TEMPORAL_NAMESPACE
	APIKey      string // TEMPORAL_API_KEY (Temporal Cloud); implies TLS
	TLSCertFile string // TEMPORAL_TLS_CERT, client certificate for mTLS
	TLSKeyFile  string // TEMPORAL_TLS_KEY, its private key
	Identity    string // worker/client identity shown in the Temporal UI; "" = SDK default
	Logger      *slog.Logger
}

// ClientOptions builds the SDK client options for s. TLS is used when an API
// key or a client certificate is configured; otherwise the connection is
// plaintext, as the local dev server expects.
func ClientOptions(s Settings) (client.Options, error) {
	if s.Address == "" {
		return client.Options{}, errors.New("TEMPORAL_ADDRESS is empty: set it to your Temporal frontend, e.g. localhost:7233 or my-ns.a1b2c.tmprl.cloud:7233")
	}
	opts := client.Options{
		HostPort:  s.Address,
		Namespace: s.Namespace,
		Identity:  s.Identity,
	}
	if s.Logger != nil {
		opts.Logger = tlog.NewStructuredLogger(s.Logger)
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return client.Options{}, errors.New("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together: give both the client certificate and its key (PEM files)")
	}
	var tlsCfg *tls.Config
	if s.TLSCertFile != "" {
		pair, err := tls.LoadX509KeyPair(s.TLSCertFile, s.TLSKeyFile)
		if err != nil {
			return client.Options{}, fmt.Errorf("load Temporal mTLS key pair (TEMPORAL_TLS_CERT=%s, TEMPORAL_TLS_KEY=%s): %w; check both are PEM files of the same key pair", s.TLSCertFile, s.TLSKeyFile, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	if s.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(s.APIKey)
		if tlsCfg == nil {
			// Temporal Cloud only accepts API keys over TLS.
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	opts.ConnectionOptions.TLS = tlsCfg
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
