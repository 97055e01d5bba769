package mcpupstream

import (
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// clientInfo is how the gateway introduces itself to upstreams.
var clientInfo = mcp.Implementation{Name: "executor-gateway", Version: "1.0.0"}

// session is one live, initialised client of an upstream and, for stdio,
// the child process behind it. A session is never re-initialised in place:
// when the upstream loses it, the upstream entry replaces it with a new one.
type session struct {
	u   *upstream
	gen uint64

	// life bounds everything that outlives the handshake: the notification
	// streams, the SSE stream, the stdio reader. Cancelled on close.
	life   context.Context
	cancel context.CancelFunc

	t         transport.Interface // the tap around the mcp-go transport
	client    *client.Client
	transport string // "streamable-http", "sse" or "stdio"
	proc      *process
	protocol  string
	listening bool // the upstream can push notifications/tools/list_changed to us
	started   time.Time

	closeOnce sync.Once
}

func newSession(u *upstream, gen uint64) *session {
	life, cancel := context.WithCancel(context.Background())
	return &session{u: u, gen: gen, life: life, cancel: cancel}
}

// start runs the MCP handshake over t. On failure the transport is closed.
func (s *session) start(ctx context.Context, t transport.Interface) error {
	s.t = t
	var opts []client.ClientOption
	if _, sse := t.(*sseTap); sse || s.u.isLegacy() || !s.u.k.opts.PreferModern {
		// A pooled session on 2025-11-25 is the cheaper protocol for a
		// long-lived client: on 2026-07-28 an mcp-go server builds a
		// throwaway session for every request (measured 0.35 ms against
		// 0.70 ms per call). HTTP+SSE predates 2026-07-28, and a legacy
		// upstream learned on an earlier connect stays one.
		opts = append(opts, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	}
	cl := client.NewClient(t, opts...)
	cl.OnNotification(s.onNotification)
	if err := cl.Start(s.life); err != nil {
		_ = t.Close()
		return err
	}
	res, err := cl.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ClientInfo: clientInfo}})
	if err != nil {
		_ = cl.Close()
		return err
	}
	s.client = cl
	s.protocol = res.ProtocolVersion
	s.started = time.Now()
	modern := mcp.IsModernProtocol(s.protocol)
	s.u.setLegacy(!modern)
	caps := cl.GetServerCapabilities()
	if caps.Tools != nil && caps.Tools.ListChanged {
		s.listening = true
		if modern {
			go s.listen()
		}
	}
	cl.OnConnectionLost(func(err error) {
		// The SSE transport's stream carries every response: without it the
		// session is dead, and the next call opens a new one.
		s.u.invalidate(s, "the MCP server closed the event stream: "+err.Error(), false)
	})
	return nil
}

// listen keeps a subscriptions/listen stream open on a 2026-07-28 connection,
// where notifications no longer have a stream of their own.
func (s *session) listen() {
	delay := time.Second
	for s.life.Err() == nil {
		opened := time.Now()
		err := s.client.Listen(s.life, mcp.SubscriptionFilter{ToolsListChanged: true})
		if s.life.Err() != nil {
			return
		}
		if time.Since(opened) > time.Minute {
			delay = time.Second
		}
		s.u.k.log.Debug("mcp upstream: notification stream ended", "connection", s.u.key, "err", err)
		select {
		case <-s.life.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

func (s *session) onNotification(n mcp.JSONRPCNotification) {
	if n.Method == string(mcp.MethodNotificationToolsListChanged) {
		s.u.toolsListChanged()
	}
}

// close ends the session: the client (which sends DELETE for a remote
// session), then the process group of a stdio child.
func (s *session) close() {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.client != nil {
			_ = s.client.Close()
		} else if s.t != nil {
			_ = s.t.Close()
		}
		if s.proc != nil {
			s.proc.stop(killGrace)
		}
	})
}

// sessionLost matches the JSON-RPC or HTTP error texts servers use for a
// session they no longer know ("Session not found", "Bad Request: No valid
// session ID provided", "Invalid session ID").
var sessionLost = regexp.MustCompile(`(?i)session[^.]*(not found|no valid|invalid|expired|unknown|terminated)|(no valid|invalid|unknown|expired) session`)

// lost reports whether a request failed because the upstream no longer
// knows this session, or the connection broke under it — cases where a new
// session is worth one retry. began is when the caller started the request.
func (s *session) lost(x *exchange, err error, began time.Time) bool {
	if x != nil && x.rpcErr != nil {
		// Only a remote server has sessions to lose, and says so with a
		// server-defined or invalid-request code, not a tool's own error.
		c := x.rpcErr.Code
		return s.proc == nil && (c == mcp.INVALID_REQUEST || (c <= -32000 && c >= -32099)) &&
			sessionLost.MatchString(x.rpcErr.Message)
	}
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if s.proc != nil {
		// A child that was already gone before the request cannot have run
		// it; one that dies during it may have, and may die again.
		if exitedAt, ok := s.proc.exitTime(); ok && exitedAt.Before(began) {
			return true
		}
		return isWriteFailure(err)
	}
	if errors.Is(err, transport.ErrSessionTerminated) || sessionLost.MatchString(err.Error()) {
		return true
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || connectionClosed.MatchString(err.Error())
}

// connectionClosed matches the mcp-go SSE transport's texts for a session
// whose stream is gone.
var connectionClosed = regexp.MustCompile(`connection has been closed|transport has been closed|transport closed`)

var writeFailure = regexp.MustCompile(`failed to write request`)

func isWriteFailure(err error) bool { return writeFailure.MatchString(err.Error()) }
