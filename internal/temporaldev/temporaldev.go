// Package temporaldev runs the official Temporal CLI dev server
// (`temporal server start-dev`) as a child process for `deploybot dev` and for
// tests. It cannot be embedded in deploybot's module (its server libraries pin
// other API versions), so it is supervised: started in its own process group,
// waited for until it answers, and stopped with everything it started.
package temporaldev

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/internal/contract"
	"github.com/deploybot/deploybot/internal/temporalconn"
)

// CLIVersion is the Temporal CLI release deploybot pins; newer releases refuse
// `go install`.
const CLIVersion = "v1.5.1"

// InstallHint says how to get the pinned Temporal CLI.
const InstallHint = "install it with `make bin/temporal` (or `GOBIN=$PWD/bin go install github.com/temporalio/cli/cmd/temporal@" + CLIVersion + "`), or pass --temporal-bin / set TEMPORAL_CLI to its path"

// Options configures the dev server.
type Options struct {
	// Binary is the temporal CLI; "" looks in $TEMPORAL_CLI, ./bin/temporal, then $PATH.
	Binary string
	// DBFile is the SQLite file that keeps history across restarts; "" = in memory.
	DBFile string
	// IP the frontend and UI bind to; "" = 127.0.0.1.
	IP string
	// Port of the gRPC frontend; 0 picks a free port.
	Port int
	// UIPort of the web UI; 0 picks a free port, -1 disables the UI.
	UIPort int
	// Namespace to create; "" = "default".
	Namespace string
	// LogFile receives the server's own output; "" discards it (the last lines
	// are still kept for error messages).
	LogFile string
	// StartTimeout bounds the wait for readiness; 0 = 60s.
	StartTimeout time.Duration
	// Logger receives deploybot's messages about the child process.
	Logger *slog.Logger
}

// Server is a running dev server.
type Server struct {
	// Address is the frontend host:port for TEMPORAL_ADDRESS.
	Address string
	// UIURL is the web UI, or "" when it is disabled.
	UIURL string
	// Namespace is the namespace the server was started with.
	Namespace string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	tail    *tailBuffer
	logFile *os.File
	log     *slog.Logger
	stop    sync.Once
}

// FindBinary resolves the temporal CLI: explicit path, $TEMPORAL_CLI,
// ./bin/temporal, then $PATH. The error says how to install it.
func FindBinary(explicit string) (string, error) {
	candidates := []string{explicit, os.Getenv("TEMPORAL_CLI"), filepath.Join("bin", "temporal")}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return filepath.Abs(c)
		}
		if c == explicit {
			return "", fmt.Errorf("temporal CLI not found at %s: %s", explicit, InstallHint)
		}
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("temporal CLI not found (looked in $TEMPORAL_CLI, ./bin/temporal and $PATH): %s", InstallHint)
}

// Start launches the dev server with deploybot's search attributes declared
// and returns once its frontend answers and the namespace exists.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := FindBinary(opts.Binary)
	if err != nil {
		return nil, err
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Port == 0 {
		if opts.Port, err = freePort(opts.IP); err != nil {
			return nil, err
		}
	}
	for opts.UIPort == 0 || opts.UIPort == opts.Port {
		if opts.UIPort, err = freePort(opts.IP); err != nil {
			return nil, err
		}
	}
	// The CLI picks the HTTP API's port itself when none is given, and Linux
	// may hand it the frontend port chosen above (free until the frontend
	// binds it): the server then fails "address already in use". Choose it
	// here, distinct from the others.
	httpPort := 0
	for httpPort == 0 || httpPort == opts.Port || httpPort == opts.UIPort {
		if httpPort, err = freePort(opts.IP); err != nil {
			return nil, err
		}
	}
	// A taken port would make the readiness check talk to someone else's server.
	for _, p := range []int{opts.Port, opts.UIPort} {
		if p > 0 {
			if err := portFree(opts.IP, p); err != nil {
				return nil, err
			}
		}
	}
	args := []string{"server", "start-dev",
		"--ip", opts.IP,
		"--port", strconv.Itoa(opts.Port),
		"--http-port", strconv.Itoa(httpPort),
		"--namespace", opts.Namespace,
		"--log-level", "warn",
	}
	if opts.UIPort > 0 {
		args = append(args, "--ui-port", strconv.Itoa(opts.UIPort))
	} else {
		args = append(args, "--headless")
	}
	if opts.DBFile != "" {
		if err := os.MkdirAll(filepath.Dir(opts.DBFile), 0o755); err != nil {
			return nil, fmt.Errorf("create directory for the Temporal database %s: %w", opts.DBFile, err)
		}
		args = append(args, "--db-filename", opts.DBFile)
	}
	for _, sa := range contract.SearchAttributes() {
		args = append(args, "--search-attribute", sa.Name+"="+sa.Type)
	}

	s := &Server{
		Address:   net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port)),
		Namespace: opts.Namespace,
		done:      make(chan struct{}),
		tail:      &tailBuffer{max: 8 << 10},
		log:       log,
	}
	if opts.UIPort > 0 {
		s.UIURL = "http://" + net.JoinHostPort(uiHost(opts.IP), strconv.Itoa(opts.UIPort))
	}
	var out io.Writer = s.tail
	if opts.LogFile != "" {
		f, err := os.OpenFile(opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open Temporal log file: %w", err)
		}
		s.logFile = f
		out = io.MultiWriter(f, s.tail)
	}
	// Not exec.CommandContext: the caller's ctx bounds the start, not the life
	// of the server, which ends with Stop.
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Stop signals the whole group
		Pdeathsig: syscall.SIGKILL, // no orphan if deploybot itself is killed
	}
	log.Info("starting Temporal dev server", "binary", bin, "address", s.Address, "ui", s.UIURL, "db", opts.DBFile)
	if err := cmd.Start(); err != nil {
		s.closeLog()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	if err := s.waitReady(ctx, opts); err != nil {
		_ = s.Stop(context.Background())
		return nil, err
	}
	log.Info("Temporal dev server is ready", "address", s.Address, "ui", s.UIURL)
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, opts Options) error {
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	// Stop waiting as soon as the child dies (port taken, bad flag, ...).
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	// The SDK dial fails fast while nothing listens yet, so retry it.
	var err error
	for {
		var c client.Client
		c, err = temporalconn.Dial(ctx, temporalconn.Settings{Address: s.Address, Namespace: opts.Namespace})
		if err == nil {
			err = temporalconn.WaitReady(ctx, c, opts.Namespace)
			c.Close()
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	select {
	case <-s.done:
		return fmt.Errorf("Temporal dev server exited during start (%v); its last output:\n%s", s.waitErr, s.tail.String())
	default:
	}
	return fmt.Errorf("Temporal dev server at %s did not become ready within %s: %w; its last output:\n%s", s.Address, opts.StartTimeout, err, s.tail.String())
}

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err reports why the process exited; valid after Done is closed.
func (s *Server) Err() error {
	select {
	case <-s.done:
		if s.waitErr != nil {
			return fmt.Errorf("Temporal dev server exited: %w; its last output:\n%s", s.waitErr, s.tail.String())
		}
		return errors.New("Temporal dev server exited")
	default:
		return nil
	}
}

// Stop sends SIGTERM to the server's process group, waits for it to exit and
// sends SIGKILL if it has not by the time ctx ends (or after 10s without a
// deadline). It is safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stop.Do(func() {
		defer s.closeLog()
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			s.log.Warn("Temporal dev server did not stop in time; killing it", "pid", pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
			err = fmt.Errorf("Temporal dev server (pid %d) had to be killed", pgid)
		}
		// Anything the server left in its group goes too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		s.log.Info("Temporal dev server stopped")
	})
	return err
}

// PID is the server's process id (and process group id).
func (s *Server) PID() int { return s.cmd.Process.Pid }

func (s *Server) closeLog() {
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
}

func uiHost(ip string) string {
	if ip == "0.0.0.0" || ip == "127.0.0.1" || ip == "::" {
		return "localhost"
	}
	return ip
}

func portFree(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on %s is taken (is another Temporal or `deploybot dev` running?): %w; stop it or choose other ports", port, ip, err)
	}
	return l.Close()
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
