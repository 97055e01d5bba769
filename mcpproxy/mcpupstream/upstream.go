package mcpupstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// killGrace is how long a stdio child's process group has between SIGTERM
// and SIGKILL.
const killGrace = 3 * time.Second

// stableAfter is how long a session must have lived for its end to reset
// the restart backoff.
const stableAfter = time.Minute

// maxBackoffWait is the longest a call waits for a restart backoff to end
// before it fails with a retryable error instead.
const maxBackoffWait = 5 * time.Second

// upstream is the pool entry of one connection: at most one live session,
// the state the API shows, and what the last tool listing learned.
type upstream struct {
	k   *Kind
	key string
	cfg Config
	fp  string // configuration (and, for stdio, credential) it was built for

	// cred is the connection's credential as of the latest use; remote
	// requests read it per request, so a refreshed token applies at once.
	cred   atomic.Pointer[integration.Credential]
	egress atomic.Pointer[http.Client]

	mu           sync.Mutex
	sess         *session
	starting     chan struct{} // closed when the start in flight ends
	gen          uint64        // start attempts so far
	failedGen    uint64        // the attempt that failed last
	failedCred   string        // the credential it failed with: a new one need not wait out the backoff
	startErr     error         // its error
	closed       bool
	kind         string // remote transport that worked: skip the other next time
	legacy       bool   // the upstream speaks a protocol before 2026-07-28
	home         string // temporary HOME of a stdio child without cwd
	failures     int    // consecutive failures, for the backoff
	retryAt      time.Time
	restarts     int
	restartDue   bool // the next successful start is a restart
	lastErr      string
	lastFailed   bool
	lastUsed     time.Time
	inflight     int
	toolCount    int
	listed       map[string]string // our tool name → upstream's, from the last listing
	listedAt     time.Time
	changed      bool // notifications/tools/list_changed since the last listing
	staleFired   bool // ToolsChanged already called for the current staleness
	toolsChanged func()
	retiring     sync.WaitGroup // sessions being closed after they ended
}

func newUpstream(k *Kind, key string, cfg Config, fp string) *upstream {
	return &upstream{k: k, key: key, cfg: cfg, fp: fp}
}

// observe records what the latest use of the connection brought along.
func (u *upstream) observe(c *integration.Connection) {
	cred := c.Credential
	u.cred.Store(&cred)
	if c.HTTP != nil {
		u.egress.Store(c.HTTP)
	}
	u.mu.Lock()
	if c.ToolsChanged != nil {
		u.toolsChanged = c.ToolsChanged
	}
	u.mu.Unlock()
}

func (u *upstream) isLegacy() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.legacy
}

func (u *upstream) setLegacy(v bool) {
	u.mu.Lock()
	u.legacy = v
	u.mu.Unlock()
}

func (u *upstream) remoteKind() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.kind
}

func (u *upstream) setRemoteKind(kind string) {
	u.mu.Lock()
	u.kind = kind
	u.mu.Unlock()
}

// credFingerprint identifies a credential without keeping it.
func credFingerprint(c *integration.Credential) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// connectFailure is why no session could be had; its message is for agents.
type connectFailure struct {
	msg       string
	status    int
	retryable bool
}

func (e *connectFailure) Error() string { return e.msg }

// acquire returns the live session, starting one if there is none. All
// callers that arrive while a start is in flight share it. Outside force, a
// restart backoff is honoured: briefly by waiting, otherwise by failing fast.
func (u *upstream) acquire(ctx context.Context, force bool) (*session, error) {
	for {
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			return nil, &connectFailure{msg: "The connection was removed while the call was starting.", retryable: true}
		}
		if s := u.sess; s != nil {
			u.inflight++
			u.lastUsed = time.Now()
			u.mu.Unlock()
			return s, nil
		}
		if ch := u.starting; ch != nil {
			gen := u.gen
			u.mu.Unlock()
			if err := u.awaitStart(ctx, ch, gen); err != nil {
				return nil, err
			}
			continue
		}
		if wait := time.Until(u.retryAt); wait > 0 && !force && u.failedCred == credFingerprint(u.cred.Load()) {
			last := u.lastErr
			if cf, ok := u.startErr.(*connectFailure); ok && cf.status != 0 {
				// Refused credential: the same one would be refused again.
				u.mu.Unlock()
				return nil, cf
			}
			u.mu.Unlock()
			deadline, hasDeadline := ctx.Deadline()
			if wait > maxBackoffWait || (hasDeadline && time.Until(deadline) < wait) {
				return nil, &connectFailure{retryable: true, msg: fmt.Sprintf(
					"The MCP server is restarting after a failure (%s). Retry in %s.", last, wait.Round(time.Second))}
			}
			select {
			case <-ctx.Done():
				return nil, &connectFailure{msg: "The call was cancelled while the MCP server was restarting.", retryable: true}
			case <-time.After(wait):
			}
			continue
		}
		u.gen++
		gen := u.gen
		ch := make(chan struct{})
		u.starting = ch
		u.k.bg.Add(1) // under u.mu with u.closed false: before Close waits
		u.mu.Unlock()
		go func() {
			defer u.k.bg.Done()
			u.startSession(gen, ch)
		}()
		if err := u.awaitStart(ctx, ch, gen); err != nil {
			return nil, err
		}
	}
}

// awaitStart waits for start attempt gen and returns its failure, if any.
func (u *upstream) awaitStart(ctx context.Context, ch chan struct{}, gen uint64) error {
	select {
	case <-ctx.Done():
		return &connectFailure{msg: "The call was cancelled while the connection to the MCP server was starting.", retryable: true}
	case <-ch:
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.sess == nil && u.failedGen == gen && u.startErr != nil {
		return u.startErr
	}
	return nil
}

// startSession makes start attempt gen, detached from any one caller so
// that a caller giving up does not fail the others sharing the attempt.
func (u *upstream) startSession(gen uint64, done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), u.k.opts.CallTimeout)
	defer cancel()
	s := newSession(u, gen)
	var err error
	if u.cfg.Transport == transportStdio {
		err = u.k.startSlot(ctx, func() error { return s.connectStdio(ctx) })
	} else {
		err = s.connectRemote(ctx, u.egress.Load())
	}

	var failure *connectFailure
	if err != nil {
		if s.proc != nil {
			// A child that failed the handshake usually died: wait for its
			// exit status and last output to be collected.
			s.proc.awaitExit(500 * time.Millisecond)
		}
		failure = u.describeStartFailure(s, err)
	}

	u.mu.Lock()
	u.starting = nil
	if u.closed || err != nil {
		if err != nil {
			u.failures++
			u.retryAt = time.Now().Add(u.k.backoff(u.failures))
			u.failedGen = gen
			u.failedCred = credFingerprint(u.cred.Load())
			u.startErr = failure
			u.lastErr = failure.msg
			u.lastFailed = true
		}
		u.mu.Unlock()
		if err != nil {
			u.k.log.Warn("mcp upstream: connecting failed", "connection", u.key, "err", failure.msg)
		}
		s.close()
		return
	}
	u.sess = s
	u.lastFailed = false
	u.startErr = nil
	if u.restartDue {
		u.restarts++
		u.restartDue = false
	}
	u.mu.Unlock()
	if s.proc != nil && s.proc.exited() {
		// It died between the handshake and now; the exit watcher missed
		// it as it was not yet the live session.
		u.processExited(s)
	}
}

// describeStartFailure turns a handshake error into a message for agents
// and the API, without secrets.
func (u *upstream) describeStartFailure(s *session, err error) *connectFailure {
	var ce *connectError
	if u.cfg.Transport == transportStdio {
		msg := fmt.Sprintf("Could not start the MCP server process %q: %s.", u.cfg.Command, u.redact(err.Error()))
		if s.proc != nil {
			if exitErr, ok := s.proc.exitResult(); ok {
				msg = fmt.Sprintf("The MCP server process %q exited during start-up (%s).", u.cfg.Command, describeExit(exitErr))
			}
			if tail := s.proc.stderr.tail(); tail != "" {
				msg += " Its last output: " + u.redact(tail)
			}
		}
		return &connectFailure{msg: msg, retryable: true}
	}
	where := redactURL(u.cfg.Endpoint)
	if errors.As(err, &ce) {
		return &connectFailure{status: ce.status, msg: fmt.Sprintf(
			"The MCP server at %s refused the connection's credential (HTTP %d). Sign the connection in again (OAuth) or connect it again with a valid credential, then retry.",
			where, ce.status)}
	}
	return &connectFailure{retryable: true, msg: fmt.Sprintf(
		"Could not connect to the MCP server at %s: %s. Check that the server is running and reachable; the call can be retried.",
		where, u.redact(err.Error()))}
}

// release ends one use of a session.
func (u *upstream) release() {
	u.mu.Lock()
	u.inflight--
	u.lastUsed = time.Now()
	u.mu.Unlock()
}

// invalidate retires s if it is still the live session. With backoff, the
// next start waits (a crash); without, it happens on the next use (an
// upstream that forgot the session).
func (u *upstream) invalidate(s *session, reason string, backoff bool) {
	u.mu.Lock()
	if u.sess != s {
		u.mu.Unlock()
		return
	}
	u.sess = nil
	u.restartDue = true
	msg := u.redact(reason)
	u.lastErr = msg
	if backoff {
		if time.Since(s.started) > stableAfter {
			u.failures = 0
		}
		u.failures++
		u.retryAt = time.Now().Add(u.k.backoff(u.failures))
		u.lastFailed = true
	}
	u.retiring.Add(1) // under u.mu: before shutdown waits
	u.mu.Unlock()
	u.k.log.Info("mcp upstream: session ended", "connection", u.key, "reason", msg)
	go func() {
		defer u.retiring.Done()
		s.close()
	}()
}

// processExited handles a stdio child that exited while it was the live
// session: the session ends and the next start waits for the backoff.
func (u *upstream) processExited(s *session) {
	u.invalidate(s, u.exitReason(s), true)
}

// exitReason says why a stdio child is gone, with its last stderr output.
func (u *upstream) exitReason(s *session) string {
	var reason string
	switch exitErr, exited := s.proc.exitResult(); {
	case s.proc.overflowed.Load():
		reason = fmt.Sprintf("The MCP server process sent a message larger than %d MiB and was stopped.", u.k.maxLine>>20)
	case exited:
		reason = fmt.Sprintf("The MCP server process exited unexpectedly (%s).", describeExit(exitErr))
	default:
		reason = "The MCP server process closed its output and was stopped."
	}
	if tail := s.proc.stderr.tail(); tail != "" {
		reason += " Its last output: " + tail
	}
	return reason
}

// childGone is a call that failed because the stdio child went away.
type childGone struct{ reason string }

func (e *childGone) Error() string { return e.reason }

// refused records that the upstream asked for something the gateway does
// not offer yet (elicitation, sampling) and was declined.
func (u *upstream) refused(method string) {
	msg := fmt.Sprintf("Declined the MCP server's %s request: the gateway does not support it yet.", method)
	u.mu.Lock()
	u.lastErr = msg
	u.mu.Unlock()
	u.k.log.Warn("mcp upstream: declined a server request", "connection", u.key, "method", method)
}

// toolsListChanged handles notifications/tools/list_changed.
func (u *upstream) toolsListChanged() {
	u.mu.Lock()
	u.changed = true
	cb := u.toolsChanged
	closed := u.closed
	u.mu.Unlock()
	if cb != nil && !closed {
		go cb()
	}
}

// stale reports whether the tools should be produced again: the upstream
// said they changed, or the last listing is older than the TTL while no
// stream would have told us.
func (u *upstream) stale(now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.staleLocked(now)
}

func (u *upstream) staleLocked(now time.Time) bool {
	if u.changed {
		return true
	}
	listening := u.sess != nil && u.sess.listening
	return !listening && now.Sub(u.listedAt) > u.k.opts.ToolsTTL
}

// fireIfStale calls ToolsChanged once per staleness, so a connection in use
// is listed again after the TTL even when its upstream sends no
// notifications.
func (u *upstream) fireIfStale() {
	u.mu.Lock()
	cb := u.toolsChanged
	fire := cb != nil && !u.staleFired && u.staleLocked(time.Now())
	if fire {
		u.staleFired = true
	}
	u.mu.Unlock()
	if fire {
		go cb()
	}
}

// listedTools records a completed listing.
func (u *upstream) listedTools(names map[string]string) {
	u.mu.Lock()
	u.listed = names
	u.listedAt = time.Now()
	u.toolCount = len(names)
	u.changed = false
	u.staleFired = false
	u.mu.Unlock()
}

func (u *upstream) listedNames() map[string]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.listed
}

// reapIfIdle takes the session away if nothing used it for the idle
// timeout, and returns it for closing.
func (u *upstream) reapIfIdle(now time.Time) *session {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.sess
	if s == nil || u.inflight > 0 || now.Sub(u.lastUsed) < u.k.opts.IdleTimeout {
		return nil
	}
	u.sess = nil
	u.k.log.Info("mcp upstream: closing an idle connection", "connection", u.key)
	return s
}

// shutdown ends the entry for good: its session, its child, its temporary
// HOME.
func (u *upstream) shutdown() {
	u.mu.Lock()
	u.closed = true
	s := u.sess
	u.sess = nil
	home := u.home
	u.mu.Unlock()
	if s != nil {
		s.close()
	}
	u.retiring.Wait()
	if home != "" {
		_ = os.RemoveAll(home)
	}
}

// homeDir is the HOME (and working directory) of a stdio child.
func (u *upstream) homeDir() (string, error) {
	if u.cfg.Cwd != "" {
		return u.cfg.Cwd, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.home == "" {
		dir, err := os.MkdirTemp("", "executor-mcp-")
		if err != nil {
			return "", fmt.Errorf("creating a home directory for the child: %w", err)
		}
		u.home = dir
	}
	return u.home, nil
}

// run performs op on a session. When the upstream lost the session (it
// restarted, or expired it), the session is replaced and op runs once more:
// the caller never sees the upstream's forgetfulness.
func (u *upstream) run(ctx context.Context, force bool, op func(context.Context, *session) (*exchange, error)) (*exchange, error) {
	for attempt := 0; ; attempt++ {
		s, err := u.acquire(ctx, force || attempt > 0)
		if err != nil {
			return nil, err
		}
		began := time.Now()
		x, err := op(ctx, s)
		u.release()
		if err == nil || (x != nil && x.result != nil) {
			return x, err
		}
		lost := s.lost(x, err, began)
		switch {
		case s.proc != nil && (lost || errors.Is(err, transport.ErrTransportClosed)):
			// The transport notices first; give the exit a moment to be
			// reaped so that its status and output are in the reason.
			s.proc.awaitExit(time.Second)
			reason := u.exitReason(s)
			u.invalidate(s, reason, true)
			err = &childGone{reason: reason}
		case lost:
			u.invalidate(s, "The MCP server lost the session: "+errText(x, err), false)
		}
		if !lost || attempt > 0 {
			return x, err
		}
		u.k.log.Info("mcp upstream: re-initialising a lost session", "connection", u.key, "err", u.redact(errText(x, err)))
	}
}

func errText(x *exchange, err error) string {
	if x != nil && x.rpcErr != nil {
		return x.rpcErr.Message
	}
	return err.Error()
}

// status is the entry's row in Kind.Status.
func (u *upstream) status(now time.Time) ConnectionStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := ConnectionStatus{
		Key:       u.key,
		Transport: u.cfg.Transport,
		Restarts:  u.restarts,
		LastError: u.lastErr,
		ToolCount: u.toolCount,
		LastUsed:  u.lastUsed,
	}
	if u.cfg.Transport == transportRemote {
		st.Transport = u.kind
		if st.Transport == "" {
			st.Transport = u.cfg.RemoteTransport
			if st.Transport == "" {
				st.Transport = remoteAuto
			}
		}
	}
	switch {
	case u.sess != nil:
		st.State = StateReady
		st.Protocol = u.sess.protocol
		st.Listening = u.sess.listening
		if u.sess.proc != nil {
			st.PID = u.sess.proc.pid
		}
	case u.starting != nil:
		st.State = StateStarting
	case now.Before(u.retryAt):
		st.State = StateBackoff
		st.RetryAt = u.retryAt
	case u.lastFailed:
		st.State = StateFailed
	default:
		st.State = StateIdle
	}
	return st
}
