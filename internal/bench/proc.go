package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux this runs on).
const clockTicks = 100

// procStat reads the parent pid, command name and CPU seconds (user +
// system) of /proc/<pid>/stat.
func procStat(pid string) (ppid int, comm string, cpu float64, err error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, "", 0, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, "", 0, os.ErrInvalid
	}
	comm = s[open+1 : end]
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return 0, "", 0, os.ErrInvalid
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return ppid, comm, (utime + stime) / clockTicks, nil
}

// childPID finds this process's child whose command is comm (the Temporal
// dev server devenv started); "" if there is none.
func childPID(comm string) string {
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid := filepath.Base(d)
		if ppid, c, _, err := procStat(pid); err == nil && ppid == self && c == comm {
			return pid
		}
	}
	return ""
}

// cpuMeter measures the CPU the Temporal server and this process use over
// a span of time, in cores (CPU seconds per second).
type cpuMeter struct {
	temporalPID   string
	t0            time.Time
	temporal, own float64
}

func (s *stack) cpu() *cpuMeter {
	m := &cpuMeter{temporalPID: s.temporalPID, t0: time.Now()}
	m.temporal, m.own = cpuOf(m.temporalPID), cpuOf("self")
	return m
}

// cores returns the cores the Temporal server and this process used since
// the meter started (-1 when unknown).
func (m *cpuMeter) cores() (temporal, own float64) {
	wall := time.Since(m.t0).Seconds()
	if wall <= 0 {
		return -1, -1
	}
	temporal, own = -1, -1
	if t := cpuOf(m.temporalPID); t >= 0 && m.temporal >= 0 {
		temporal = round((t-m.temporal)/wall, 2)
	}
	if o := cpuOf("self"); o >= 0 && m.own >= 0 {
		own = round((o-m.own)/wall, 2)
	}
	return temporal, own
}

func cpuOf(pid string) float64 {
	if pid == "" {
		return -1
	}
	_, _, cpu, err := procStat(pid)
	if err != nil {
		return -1
	}
	return cpu
}

// Quiet means the Temporal server uses less than quietCores over a
// quietWindow; waitQuiet waits for it at most quietMax.
const (
	quietCores  = 0.15
	quietWindow = 500 * time.Millisecond
	quietMax    = 15 * time.Second
)

// waitQuiet waits until the Temporal server is (nearly) idle: the server's
// follow-up work of the last phase (transfer tasks, timers, visibility)
// must not weigh on the next one, whichever it is. It returns how long it
// waited; without the server's pid it waits quietWindow.
func (s *stack) waitQuiet(ctx context.Context) time.Duration {
	start := time.Now()
	if s.temporalPID == "" {
		sleep(ctx, quietWindow)
		return time.Since(start)
	}
	for time.Since(start) < quietMax && ctx.Err() == nil {
		m := s.cpu()
		sleep(ctx, quietWindow)
		if t, _ := m.cores(); t >= 0 && t < quietCores {
			break
		}
	}
	return time.Since(start)
}
