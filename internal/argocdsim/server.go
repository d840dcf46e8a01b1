package argocdsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/runtime"
	"github.com/improbable-eng/grpc-web/go/grpcweb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	applicationpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/application"
	projectpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/project"
	repositorypkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/repository"
	settingspkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/settings"
	versionpkg "github.com/argoproj/argo-cd/v2/pkg/apiclient/version"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	grpcutil "github.com/argoproj/argo-cd/v2/util/grpc"
	"github.com/argoproj/argo-cd/v2/util/rbac"

	"github.com/deploybot/deploybot/internal/argocd"
)

// DefaultToken is the bearer token used when Options.Token is empty.
const DefaultToken = "dev-token"

// DefaultOperationDuration is used when Options.OperationDuration is zero.
const DefaultOperationDuration = 2 * time.Second

// Options configure a simulator. The zero value is usable.
type Options struct {
	// Token is the admin account's API token (sub "admin", role:admin);
	// "" means "dev-token".
	Token string
	// Accounts are further API tokens, each a local account's:
	// {"bot-token": "deploybot"}. A request with one is that account (sub
	// "deploybot"), which RBACPolicy authorizes; the admin's token stays
	// valid. Empty: Token is the only token.
	Accounts map[string]string
	// RBACPolicy is argocd-rbac-cm's policy.csv (e.g. deploy/argocd/policy.csv),
	// on top of Argo CD's built-in policy; RBACDefaultRole its
	// policy.default (e.g. "role:readonly"). With Accounts, RBACPolicy or
	// RBACDefaultRole set every call is authorized as by argocd-server
	// (the admin keeps role:admin); with none, all is allowed.
	RBACPolicy      string
	RBACDefaultRole string
	// LogsRBACEnforce is argocd-cm's server.rbac.log.enforce.enable: "true",
	// with which 2.14's PodLogs checks `logs, get` too. 3.0+ always checks
	// it (and no longer reads the setting).
	LogsRBACEnforce bool
	// OperationDuration is how long a sync or rollback takes from the API
	// call until the app settles; 0 means 2s. The operation itself finishes
	// at 60% of it and health settles at the end, because in Argo CD health
	// lags the sync operation.
	OperationDuration time.Duration
	// TLS serves TLS with a self-signed certificate generated at start
	// (see Server.CertPEM). Plaintext (h2c for gRPC) otherwise.
	TLS bool
	// ExtraApps adds generated apps app-001... in project "default".
	ExtraApps int
	// Logger receives request and lifecycle logs; nil discards them.
	Logger *slog.Logger
	// Version is the Argo CD release whose semantics and version the
	// simulator has: "2.14", "3.0", "3.1" or a release of those lines such
	// as "v3.1.16"; "" means "2.14". See the package documentation for
	// what differs.
	Version string
	// AppNamespaces are the namespaces besides argocd whose Applications
	// the API serves, as argocd-server's --application-namespaces: names,
	// globs ("team-*") or /regular expressions/. The seed always holds
	// team-a/guestbook (project team-a, whose sourceNamespaces allow team-a);
	// only a list that matches team-a makes it reachable.
	AppNamespaces []string
	// AfterCall, if set, is called once a unary API call has succeeded
	// and before its answer is sent, with the call's counter key ("Sync")
	// and app. A test can act there, in the window where Argo CD has made
	// the change but the caller has not heard: e.g. kill the caller, so
	// that its retry must not make the change twice.
	AfterCall func(method, app string)
}

// Server is an in-memory Argo CD API server (v2.14 semantics by default,
// or 3.0's or 3.1's; see Options.Version). It serves
// native gRPC, gRPC-Web, the REST gateway (/api/v1/...) and the admin API
// (/sim/...) on one port. A Server serves once: after Shutdown create a new one.
type Server struct {
	opts    Options
	log     *slog.Logger
	token   string
	dur     time.Duration
	release release
	version argocd.ServerVersion

	accounts map[string]string // API token -> account name (the admin's included)
	issuedAt time.Time         // the tokens' iat: when the simulator started
	enf      *rbac.Enforcer    // nil: RBAC off, everything is allowed

	mu       sync.Mutex // guards everything below up to "faults"
	apps     map[string]*simApp
	projects map[string]*v1alpha1.AppProject
	rv       int64
	gen      int64 // bumped by Reset; stale timers compare it
	timers   map[*time.Timer]struct{}
	subs     map[*subscriber]struct{}
	closed   bool

	faults     faultState
	methodKeys map[string]string // full gRPC method -> counter key
	side       sideTable         // what the v2 types cannot carry, next to their messages (wire.go)

	grpc    *grpc.Server
	grpcWeb *grpcweb.WrappedGrpcServer
	gw      http.Handler
	admin   http.Handler
	bufLis  *bufconn.Listener
	gwConn  *grpc.ClientConn
	httpSrv *http.Server
	tlsCert *tls.Certificate
	certPEM []byte

	closing   chan struct{} // closed by Shutdown; ends streams and sleeps
	closeOnce sync.Once
	bg        sync.WaitGroup // internal goroutines (bufconn gRPC server)
	serveMu   sync.Mutex
	served    bool
}

// New builds a simulator with the seed data loaded. Call Serve or
// ListenAndServe to accept connections.
func New(opts Options) (*Server, error) {
	if opts.OperationDuration < 0 || opts.ExtraApps < 0 {
		return nil, errors.New("argocdsim: OperationDuration and ExtraApps must not be negative")
	}
	rel, version, err := parseVersion(opts.Version)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		release: rel,
		version: version,
		log:     opts.Logger,
		token:   opts.Token,
		dur:     opts.OperationDuration,
		timers:  map[*time.Timer]struct{}{},
		subs:    map[*subscriber]struct{}{},
		closing: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.token == "" {
		s.token = DefaultToken
	}
	if s.dur == 0 {
		s.dur = DefaultOperationDuration
	}
	if err := s.setupAccounts(opts); err != nil {
		return nil, err
	}
	s.faults.reset()
	s.mu.Lock()
	s.loadSeed()
	s.mu.Unlock()

	if opts.TLS {
		cert, pemBytes, err := selfSignedCert()
		if err != nil {
			return nil, fmt.Errorf("argocdsim: generate certificate: %w", err)
		}
		s.tlsCert, s.certPEM = cert, pemBytes
	}

	serverOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
		grpc.MaxRecvMsgSize(100 * 1024 * 1024),
	}
	gwCallOpts := []grpc.CallOption{grpc.MaxCallRecvMsgSize(100 * 1024 * 1024)}
	gwDialOpts := []grpc.DialOption{}
	var gwMarshaler gwruntime.Marshaler = new(grpcutil.JSONMarshaler)
	if s.keepsEnabled() {
		// automated.enabled on the wire and in REST JSON (see wire.go).
		serverOpts = append(serverOpts, grpc.ForceServerCodecV2(s.serverCodec()))
		gwCallOpts = append(gwCallOpts, grpc.ForceCodecV2(s.gatewayCodec()))
		gwDialOpts = append(gwDialOpts, grpc.WithChainUnaryInterceptor(s.gatewayUnary), grpc.WithChainStreamInterceptor(s.gatewayStream))
		gwMarshaler = &restMarshaler{s: s}
	}
	s.grpc = grpc.NewServer(serverOpts...)
	applicationpkg.RegisterApplicationServiceServer(s.grpc, &appService{s: s})
	repositorypkg.RegisterRepositoryServiceServer(s.grpc, &repoService{s: s})
	projectpkg.RegisterProjectServiceServer(s.grpc, &projectService{s: s})
	settingspkg.RegisterSettingsServiceServer(s.grpc, &settingsService{s: s})
	versionpkg.RegisterVersionServiceServer(s.grpc, &versionService{s: s})
	s.methodKeys = s.buildMethodKeys()
	s.grpcWeb = grpcweb.WrapServer(s.grpc)

	// The REST gateway talks to the gRPC server over an in-memory connection
	// (Argo CD dials itself), so REST sees the same auth, faults and counters.
	s.bufLis = bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///argocdsim", append(gwDialOpts,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.bufLis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(gwCallOpts...),
	)...)
	if err != nil {
		return nil, fmt.Errorf("argocdsim: gateway connection: %w", err)
	}
	s.gwConn = conn
	gwmux := gwruntime.NewServeMux(gwruntime.WithMarshalerOption(gwruntime.MIMEWildcard, gwMarshaler))
	ctx := context.Background()
	for _, reg := range []func(context.Context, *gwruntime.ServeMux, *grpc.ClientConn) error{
		applicationpkg.RegisterApplicationServiceHandler,
		repositorypkg.RegisterRepositoryServiceHandler,
		projectpkg.RegisterProjectServiceHandler,
		settingspkg.RegisterSettingsServiceHandler,
		versionpkg.RegisterVersionServiceHandler,
	} {
		if err := reg(ctx, gwmux, conn); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("argocdsim: register gateway: %w", err)
		}
	}
	s.gw = enforceJSON(gwmux)
	s.admin = s.adminHandler()

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true) // gRPC clients speak h2c with prior knowledge
	s.httpSrv = &http.Server{
		Handler:           s,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.tlsCert != nil {
		s.httpSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*s.tlsCert}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// Serve accepts connections on l until Shutdown, then returns nil.
func (s *Server) Serve(l net.Listener) error {
	s.serveMu.Lock()
	if s.served {
		s.serveMu.Unlock()
		return errors.New("argocdsim: Serve called twice")
	}
	s.served = true
	s.serveMu.Unlock()
	select {
	case <-s.closing:
		return nil
	default:
	}

	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		_ = s.grpc.Serve(s.bufLis) // returns when Shutdown stops the gRPC server
	}()
	s.log.Info("argocd simulator listening", "url", s.URL(l.Addr()), "version", s.version.Raw, "tls", s.tlsCert != nil, "apps", s.appCount())
	var err error
	if s.tlsCert != nil {
		err = s.httpSrv.ServeTLS(l, "", "")
	} else {
		err = s.httpSrv.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on addr (host:port) and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// URL returns the base URL for a listener address (http:// or https://).
func (s *Server) URL(addr net.Addr) string {
	if s.tlsCert != nil {
		return "https://" + addr.String()
	}
	return "http://" + addr.String()
}

// Shutdown stops operation timers, ends open streams and stops serving.
// It returns when the server is down or ctx is done (then connections are
// closed forcibly).
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.stopTimersLocked()
		s.mu.Unlock()
		close(s.closing)
	})
	s.grpc.Stop() // cancels in-flight RPCs, including ServeHTTP ones
	err := s.httpSrv.Shutdown(ctx)
	if err != nil {
		_ = s.httpSrv.Close()
	}
	_ = s.gwConn.Close()
	_ = s.bufLis.Close()
	s.bg.Wait()
	return err
}

// Run serves on addr until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, addr string, opts Options) error {
	s, err := New(opts)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	select {
	case err := <-errc:
		_ = s.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	serr := s.Shutdown(sctx)
	if err := <-errc; err != nil {
		return err
	}
	return serr
}

// CertPEM returns the PEM-encoded self-signed certificate in TLS mode, nil otherwise.
func (s *Server) CertPEM() []byte {
	if s.certPEM == nil {
		return nil
	}
	return append([]byte(nil), s.certPEM...)
}

func (s *Server) appCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.apps)
}

// repoPathPattern mirrors Argo CD's bug21955Workaround: repo URLs arrive
// URL-encoded in one path segment and must not be split at their slashes.
var repoPathPattern = regexp.MustCompile(`^/api/v1/repositories/[^/]+`)

// ServeHTTP routes a request the way argocd-server does on its single port.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	switch {
	case r.ProtoMajor == 2 && strings.HasPrefix(ct, "application/grpc") && !strings.HasPrefix(ct, "application/grpc-web"):
		s.grpc.ServeHTTP(w, r)
	case s.grpcWeb.IsGrpcWebRequest(r) || s.grpcWeb.IsAcceptableGrpcCorsRequest(r):
		s.grpcWeb.ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, "/sim/"):
		s.admin.ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		if repoPathPattern.MatchString(r.URL.RawPath) {
			r.URL.Path = r.URL.RawPath
		}
		s.serveREST(w, r)
	case r.URL.Path == "/healthz":
		_, _ = io.WriteString(w, "ok")
	default:
		http.NotFound(w, r)
	}
}

// enforceJSON mirrors argocd-server's default --api-content-types: non-GET
// REST calls must send exactly "application/json".
func enforceJSON(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || strings.ToLower(r.Header.Get("Content-Type")) == "application/json" {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "Invalid content type", http.StatusUnsupportedMediaType)
	})
}

func selfSignedCert() (*tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "argocd-sim", Organization: []string{"deploybot"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "argocd-sim"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	return &cert, certPEM, nil
}
