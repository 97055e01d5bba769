package mcpupstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// maxLineBytes bounds one JSON-RPC message from a stdio child. mcp-go reads
// lines without a limit; a child that never sends a newline would otherwise
// grow the gateway's memory without end.
const maxLineBytes = 64 << 20

// stderrKeep is how much of a child's stderr is kept for Status.
const stderrKeep = 16 << 10

// defaultPath is the child's PATH when the gateway has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// childEnv is a stdio child's whole environment: PATH and LANG from the
// gateway, HOME, and the configured variables with credential references
// filled in. Nothing else of the gateway's environment — its own secrets
// among it — reaches the child.
func childEnv(cfg Config, cred integration.Credential, home string) ([]string, error) {
	vars := map[string]string{}
	for name, v := range cred.Values {
		vars[name] = v
	}
	if cred.AccessToken != "" {
		vars["accessToken"] = cred.AccessToken
	}
	env := map[string]string{
		"PATH": os.Getenv("PATH"),
		"HOME": home,
		"LANG": os.Getenv("LANG"),
	}
	if env["PATH"] == "" {
		env["PATH"] = defaultPath
	}
	if env["LANG"] == "" {
		env["LANG"] = "C.UTF-8"
	}
	for name, v := range cfg.Env {
		expanded, err := expandEnv(v, vars)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", name, err)
		}
		env[name] = expanded
	}
	out := make([]string, 0, len(env))
	for name, v := range env {
		out = append(out, name+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

// connectStdio starts the child and runs the handshake over its stdio.
func (s *session) connectStdio(ctx context.Context) error {
	u := s.u
	home, err := u.homeDir()
	if err != nil {
		return err
	}
	cred := u.cred.Load()
	if cred == nil {
		cred = &integration.Credential{}
	}
	env, err := childEnv(u.cfg, *cred, home)
	if err != nil {
		return err
	}
	p, err := startProcess(u.cfg.Command, u.cfg.Args, env, home, u.k.log)
	if err != nil {
		return err
	}
	s.proc = p
	t := transport.NewIO(&lineLimit{r: p.stdout, max: u.k.maxLine, overflow: p.overflow}, p.stdin, nil)
	tapped := &stdioTap{tap: &tap{Interface: t, refused: u.refused}, s: t}
	p.watch(func() {
		// The transport only learns of the exit when stdout ends, which a
		// grandchild holding it open would delay: end it now.
		_ = t.Close()
		u.processExited(s)
	})
	return s.start(ctx, tapped)
}

// process is a stdio child, the leader of its own process group.
type process struct {
	cmd    *exec.Cmd
	pid    int
	stdin  *os.File // our ends of its pipes
	stdout *os.File
	stderr *ring
	log    *slog.Logger

	done       chan struct{} // closed when the child has been waited for
	stderrDone chan struct{} // closed when its stderr has been read to the end
	exitErr    error
	exitAt     time.Time
	stopping   atomic.Bool
	overflowed atomic.Bool
	crashed    atomic.Bool // it exited without being stopped
	onExit     atomic.Pointer[func()]
	exitOnce   sync.Once
	stopOnce   sync.Once
}

// startProcess starts command with exactly env, in dir, in a new process
// group. Its stdio are plain pipes, so waiting for it never waits for a
// grandchild that inherited them.
func startProcess(command string, args, env []string, dir string, log *slog.Logger) (*process, error) {
	if err := stdioSupported(); err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	cmd := exec.Command(command, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = processAttr()
	if err := cmd.Start(); err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, err
	}
	closeAll(inR, outW, errW) // the child has its own copies
	p := &process{
		cmd: cmd, pid: cmd.Process.Pid,
		stdin: inW, stdout: outR, stderr: &ring{},
		log:        log,
		done:       make(chan struct{}),
		stderrDone: make(chan struct{}),
	}
	go func() {
		_, _ = io.Copy(p.stderr, errR)
		_ = errR.Close()
		close(p.stderrDone)
	}()
	go p.wait()
	return p, nil
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// wait reaps the child, then clears out what is left of its group.
func (p *process) wait() {
	err := p.cmd.Wait()
	exitAt := time.Now()
	// Its last words explain the exit; a grandchild holding stderr open
	// must not delay the news for long.
	select {
	case <-p.stderrDone:
	case <-time.After(250 * time.Millisecond):
	}
	p.exitErr, p.exitAt = err, exitAt
	close(p.done)
	p.log.Debug("mcp upstream: child exited", "pid", p.pid, "err", err)
	if !p.stopping.Load() {
		p.crashed.Store(true)
		p.fireExit()
		// Grandchildren outlive a crashed leader; they go with it.
		p.stop(killGrace)
	}
}

// watch sets what happens when the child exits on its own, even if it
// already has.
func (p *process) watch(f func()) {
	p.onExit.Store(&f)
	if p.crashed.Load() {
		p.fireExit()
	}
}

// fireExit runs the exit handler once, if there is one yet.
func (p *process) fireExit() {
	if f := p.onExit.Load(); f != nil {
		p.exitOnce.Do(*f)
	}
}

// awaitExit waits up to d for the child to exit.
func (p *process) awaitExit(d time.Duration) {
	select {
	case <-p.done:
	case <-time.After(d):
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitResult is the child's exit error, once it has exited.
func (p *process) exitResult() (error, bool) {
	if !p.exited() {
		return nil, false
	}
	return p.exitErr, true
}

func (p *process) exitTime() (time.Time, bool) {
	if !p.exited() {
		return time.Time{}, false
	}
	return p.exitAt, true
}

// overflow stops a child whose message outgrew maxLineBytes.
func (p *process) overflow() {
	p.overflowed.Store(true)
	signalGroup(p.pid, true)
}

// stop ends the whole process group: SIGTERM, then SIGKILL once the leader
// and every other member are gone or grace has passed. It returns when the
// leader has been reaped.
func (p *process) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		_ = p.stdin.Close() // a well-behaved server exits on EOF
		signalGroup(p.pid, false)
		deadline := time.Now().Add(grace)
		for time.Now().Before(deadline) && (!p.exited() || groupAlive(p.pid)) {
			time.Sleep(20 * time.Millisecond)
		}
		signalGroup(p.pid, true)
		<-p.done
		// Our end of stdout stays open until the readers are done with what
		// the child wrote last; a process that left the group could keep
		// the pipe open, so let go of it after a moment.
		time.AfterFunc(time.Second, func() { _ = p.stdout.Close() })
	})
}

// describeExit renders an exit error for people.
func describeExit(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// ring keeps the last stderrKeep bytes written to it.
type ring struct {
	mu  sync.Mutex
	buf []byte
}

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	if over := len(r.buf) - stderrKeep; over > 0 {
		r.buf = append(r.buf[:0], r.buf[over:]...)
	}
	return len(p), nil
}

// tail is the end of what was written: the last few lines, at most 1 KiB.
func (r *ring) tail() string {
	r.mu.Lock()
	b := bytes.TrimSpace(r.buf)
	if len(b) > 1024 {
		b = b[len(b)-1024:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	s := strings.ToValidUTF8(string(b), "")
	r.mu.Unlock()
	return s
}

// lineLimit fails a read once a line grows past max bytes.
type lineLimit struct {
	r        io.Reader
	max      int
	cur      int
	overflow func()
}

var errLineTooLong = errors.New("a message from the MCP server exceeded the size limit")

func (l *lineLimit) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for chunk := p[:n]; len(chunk) > 0; {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			l.cur += len(chunk)
			break
		}
		if l.cur+i > l.max {
			l.cur += i
			break
		}
		l.cur = 0
		chunk = chunk[i+1:]
	}
	if l.cur > l.max {
		if l.overflow != nil {
			l.overflow()
		}
		return 0, errLineTooLong
	}
	return n, err
}
