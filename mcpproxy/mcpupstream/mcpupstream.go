// Package mcpupstream is the "mcp" integration kind: it exposes the tools of
// upstream MCP servers, remote (streamable HTTP or legacy HTTP+SSE) or local
// (a stdio child process), and calls them on the gateway's behalf.
//
// Every connection has one pooled client, created on first use and shared
// by all calls and listings; concurrent first calls share one handshake.
// When an upstream forgets the session (it restarted, or expired it), the
// client is replaced and the call retried once, so callers do not notice.
// Stdio children are started lazily with a clean environment, in their own
// process group, at most a few at a time; they are restarted with backoff
// when they crash and stopped — the whole group, SIGTERM then SIGKILL —
// when idle, forgotten or closed.
package mcpupstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// Options configure a Kind. The zero value is usable: stdio is off and the
// limits take their defaults.
type Options struct {
	// AllowStdio is the operator's switch for stdio servers, which run
	// programs on the gateway's host. Without it they are refused with
	// "stdio MCP servers are disabled on this gateway".
	AllowStdio bool
	// IdleTimeout is how long a connection may go unused before its client
	// is closed and its child process stopped (default 10 minutes).
	IdleTimeout time.Duration
	// ToolsTTL is how old a tool listing may get before the connection's
	// ToolsChanged is called on its next use, for upstreams that cannot
	// notify us of changes (default 15 minutes).
	ToolsTTL time.Duration
	// Logger receives operational events; never credentials.
	Logger *slog.Logger

	// MaxConcurrentStarts bounds how many stdio children start at once
	// (default 4).
	MaxConcurrentStarts int
	// RestartBackoff is the wait after the first failure to start, doubled
	// for each consecutive failure up to MaxRestartBackoff (defaults 1 s
	// and 1 min).
	RestartBackoff, MaxRestartBackoff time.Duration
	// CallTimeout bounds one call, and one handshake (default 120 s).
	CallTimeout time.Duration
	// PreferModern negotiates protocol 2026-07-28 (stateless) with servers
	// that speak it, instead of a pooled 2025-11-25 session.
	PreferModern bool
}

// Connection states shown by Status.
const (
	StateIdle     = "idle"     // no client; one starts on the next use
	StateStarting = "starting" // a handshake (and for stdio, a child) is starting
	StateReady    = "ready"    // a client is connected
	StateFailed   = "failed"   // the last start failed; the next use tries again
	StateBackoff  = "backoff"  // the last start failed or the child crashed; waiting until RetryAt
)

// ConnectionStatus is one pooled connection as the API shows it.
type ConnectionStatus struct {
	Key string `json:"key"`
	// Transport is "stdio", or for a remote server the one in use:
	// "streamable-http" or "sse" ("auto" before the first connect).
	Transport string `json:"transport"`
	State     string `json:"state"`
	// PID is the stdio child's process id while it runs.
	PID int `json:"pid,omitempty"`
	// Restarts counts new sessions after a crash or a lost session.
	Restarts int `json:"restarts"`
	// LastError is the last failure (for stdio with the child's last
	// stderr output), or the last declined upstream request.
	LastError string    `json:"lastError,omitempty"`
	ToolCount int       `json:"toolCount"`
	LastUsed  time.Time `json:"lastUsed,omitzero"`
	RetryAt   time.Time `json:"retryAt,omitzero"`
	// Protocol is the negotiated MCP protocol version.
	Protocol string `json:"protocol,omitempty"`
	// Listening says whether the upstream notifies us of tool changes.
	Listening bool `json:"listening,omitempty"`
}

// Kind is the "mcp" integration kind. It is safe for concurrent use; Close
// it when the gateway stops.
type Kind struct {
	opts     Options
	log      *slog.Logger
	startSem chan struct{}
	maxLine  int // bytes of one message from a stdio child

	mu     sync.Mutex
	ups    map[string]*upstream
	closed bool

	cfgMu     sync.Mutex
	cfgs      map[string]parsedConfig // by the configuration's bytes
	metaNames map[string]string       // original tool names by the tool's Meta

	stopReaper chan struct{}
	closeOnce  sync.Once
	bg         sync.WaitGroup // reaper and background shutdowns
}

// New returns the kind with opts, and starts its idle reaper.
func New(opts Options) *Kind {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.ToolsTTL <= 0 {
		opts.ToolsTTL = 15 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConcurrentStarts <= 0 {
		opts.MaxConcurrentStarts = 4
	}
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = time.Second
	}
	if opts.MaxRestartBackoff <= 0 {
		opts.MaxRestartBackoff = time.Minute
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 120 * time.Second
	}
	k := &Kind{
		opts:       opts,
		log:        opts.Logger,
		startSem:   make(chan struct{}, opts.MaxConcurrentStarts),
		maxLine:    maxLineBytes,
		ups:        map[string]*upstream{},
		cfgs:       map[string]parsedConfig{},
		metaNames:  map[string]string{},
		stopReaper: make(chan struct{}),
	}
	k.bg.Add(1)
	go k.reaper()
	return k
}

// Name is the kind's id.
func (k *Kind) Name() string { return "mcp" }

// Produce lists the upstream's tools, following every page. Tool names are
// sanitised (lower case, "_" for anything else, "_2", "_3" for repeats);
// each tool's Meta keeps the upstream's own name, which Call uses.
func (k *Kind) Produce(ctx context.Context, c *integration.Connection) (*integration.Catalog, error) {
	u, err := k.upstreamFor(c)
	if err != nil {
		return nil, err
	}
	var tools []upstreamTool
	_, err = u.run(ctx, true, func(ctx context.Context, s *session) (*exchange, error) {
		var x *exchange
		var err error
		tools, x, err = s.listTools(ctx)
		return x, err
	})
	if err != nil {
		var cf *connectFailure
		if errors.As(err, &cf) {
			return nil, errors.New(cf.msg)
		}
		return nil, fmt.Errorf("listing the tools of the MCP server: %s", u.redact(err.Error()))
	}
	cat, names := buildCatalog(tools)
	u.listedTools(names)
	return cat, nil
}

// Call calls tool on the upstream with its original name. The upstream's
// CallToolResult comes back untouched as data; isError, JSON-RPC errors and
// failed connections are failed Results. A Go error means a defect.
func (k *Kind) Call(ctx context.Context, c *integration.Connection, tool *integration.Tool, args json.RawMessage) (*integration.Result, error) {
	if tool == nil {
		return nil, errors.New("mcpupstream: Call without a tool")
	}
	u, err := k.upstreamFor(c)
	var unusable *unusableError
	if errors.As(err, &unusable) {
		return &integration.Result{Error: &integration.ToolError{
			Code: "mcp_connection_failed", Message: unusable.msg, Retryable: unusable.retryable}}, nil
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, k.opts.CallTimeout)
	defer cancel()

	name := k.originalName(tool, u.listedNames())
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = callArguments(args)
	x, err := u.run(ctx, false, func(ctx context.Context, s *session) (*exchange, error) {
		x := &exchange{method: string(mcp.MethodToolsCall)}
		_, err := s.client.CallTool(withExchange(ctx, x), req)
		return x, err
	})
	u.fireIfStale()
	return u.callResult(ctx, name, x, err), nil
}

// callArguments is args as the upstream expects them: an object.
func callArguments(args json.RawMessage) json.RawMessage {
	if n := nullToNil(args); n != nil {
		return n
	}
	return json.RawMessage(`{}`)
}

// Close stops every child process group and closes every client. It waits
// for children to exit (up to the SIGKILL grace) and may be called again.
func (k *Kind) Close() error {
	k.closeOnce.Do(func() {
		k.mu.Lock()
		k.closed = true
		ups := k.ups
		k.ups = map[string]*upstream{}
		k.mu.Unlock()
		close(k.stopReaper)
		var wg sync.WaitGroup
		for _, u := range ups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.shutdown()
			}()
		}
		wg.Wait()
	})
	k.bg.Wait()
	return nil
}

// Forget drops the pooled client of a connection (removed, or its
// credential changed) and stops its child. The next use starts afresh.
func (k *Kind) Forget(connectionKey string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	u := k.ups[connectionKey]
	if u == nil || k.closed {
		return
	}
	delete(k.ups, connectionKey)
	k.bg.Add(1) // under k.mu with k.closed false: before Close waits
	go func() {
		defer k.bg.Done()
		u.shutdown()
	}()
}

// Status lists the pooled connections, by key.
func (k *Kind) Status() []ConnectionStatus {
	k.mu.Lock()
	ups := make([]*upstream, 0, len(k.ups))
	for _, u := range k.ups {
		ups = append(ups, u)
	}
	k.mu.Unlock()
	now := time.Now()
	out := make([]ConnectionStatus, 0, len(ups))
	for _, u := range ups {
		out = append(out, u.status(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Stale reports whether the tools of the connection key should be produced
// again: the upstream announced a change, or the last listing is older than
// ToolsTTL and the upstream has no open stream to announce one. Connections
// this Kind has not used are not stale, so polling Stale never starts
// anything. Call also calls the connection's ToolsChanged, once, when it
// finds it stale.
func (k *Kind) Stale(connectionKey string) bool {
	k.mu.Lock()
	u := k.ups[connectionKey]
	k.mu.Unlock()
	return u != nil && u.stale(time.Now())
}

// upstreamFor returns the pool entry of c, replacing one built for another
// configuration (or, for stdio, another credential: it is in the child's
// environment).
func (k *Kind) upstreamFor(c *integration.Connection) (*upstream, error) {
	if c == nil {
		return nil, errors.New("mcpupstream: no connection")
	}
	pc := k.parseConfig(c.Config)
	if pc.err != nil {
		return nil, &unusableError{msg: fmt.Sprintf("The MCP integration %s is misconfigured: %s.", c.Integration, pc.err)}
	}
	cfg := pc.cfg
	if cfg.Transport == transportRemote && c.HTTP == nil {
		return nil, errors.New("mcpupstream: the connection has no HTTP client")
	}
	key := c.Key
	if key == "" {
		key = c.Integration + "\x00" + c.Owner + "\x00" + c.Subject + "\x00" + c.Name
	}
	fp := fingerprint(pc, c.Credential)
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil, &unusableError{msg: "The gateway is shutting down; retry the call shortly.", retryable: true}
	}
	u := k.ups[key]
	if u != nil && u.fp != fp {
		old := u
		k.bg.Add(1)
		go func() {
			defer k.bg.Done()
			old.shutdown()
		}()
		u = nil
	}
	if u == nil {
		u = newUpstream(k, key, cfg, fp)
		k.ups[key] = u
	}
	k.mu.Unlock()
	u.observe(c)
	return u, nil
}

// unusableError is a connection the kind cannot use as configured: a
// failed Result, not a defect.
type unusableError struct {
	msg       string
	retryable bool
}

func (e *unusableError) Error() string { return e.msg }

// fingerprint identifies what a pool entry was built from. Remote clients
// read the credential per request, so only stdio includes it.
func fingerprint(pc parsedConfig, cred integration.Credential) string {
	if pc.cfg.Transport != transportStdio {
		return pc.sum
	}
	h := sha256.New()
	h.Write(pc.json)
	b, _ := json.Marshal(struct {
		V map[string]string
		T string
	}{cred.Values, cred.AccessToken})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// parsedConfig is what every call derives from a connection's configuration.
type parsedConfig struct {
	cfg  Config
	err  error  // from parsing or validating
	json []byte // cfg re-encoded, what fingerprint hashes
	sum  string // fingerprint without credentials
}

// maxParsedConfigs bounds the cache of parsed configurations; past it, the
// cache starts again.
const maxParsedConfigs = 256

// parseConfig parses and validates a connection's configuration, once per
// distinct configuration: it is the same for every call of a connection.
func (k *Kind) parseConfig(raw json.RawMessage) parsedConfig {
	k.cfgMu.Lock()
	pc, ok := k.cfgs[string(raw)]
	k.cfgMu.Unlock()
	if ok {
		return pc
	}
	pc.cfg, pc.err = ParseConfig(raw)
	if pc.err == nil {
		pc.err = pc.cfg.Validate(k.opts.AllowStdio)
	}
	if pc.err == nil {
		pc.json, _ = json.Marshal(pc.cfg)
		sum := sha256.Sum256(pc.json)
		pc.sum = hex.EncodeToString(sum[:])
	}
	k.cfgMu.Lock()
	if len(k.cfgs) >= maxParsedConfigs {
		clear(k.cfgs)
	}
	k.cfgs[string(raw)] = pc
	k.cfgMu.Unlock()
	return pc
}

// startSlot runs start while holding one of the concurrent-start slots.
func (k *Kind) startSlot(ctx context.Context, start func() error) error {
	select {
	case k.startSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for other MCP servers to start: %w", ctx.Err())
	}
	defer func() { <-k.startSem }()
	return start()
}

// backoff is the wait after the n-th consecutive failure.
func (k *Kind) backoff(n int) time.Duration {
	d := k.opts.RestartBackoff
	for i := 1; i < n && d < k.opts.MaxRestartBackoff; i++ {
		d *= 2
	}
	return min(d, k.opts.MaxRestartBackoff)
}

// reaper closes idle connections.
func (k *Kind) reaper() {
	defer k.bg.Done()
	every := min(max(k.opts.IdleTimeout/4, 10*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-k.stopReaper:
			return
		case now := <-t.C:
			k.mu.Lock()
			ups := make([]*upstream, 0, len(k.ups))
			for _, u := range k.ups {
				ups = append(ups, u)
			}
			k.mu.Unlock()
			for _, u := range ups {
				if s := u.reapIfIdle(now); s != nil {
					k.bg.Add(1) // the reaper's own count keeps this safe
					go func() {
						defer k.bg.Done()
						s.close()
					}()
				}
			}
		}
	}
}

// Target is the server and the tool a call goes to: the remote endpoint
// (its query string, which may hold a key, left out) or the stdio command.
func (k *Kind) Target(c *integration.Connection, tool *integration.Tool, _ json.RawMessage) string {
	if c == nil || tool == nil {
		return ""
	}
	pc := k.parseConfig(c.Config)
	if pc.err != nil {
		return ""
	}
	name := k.originalName(tool, nil)
	if pc.cfg.Transport == transportStdio {
		return fmt.Sprintf("tool %q of the MCP server process %s", name, pc.cfg.Command)
	}
	return fmt.Sprintf("tool %q of the MCP server at %s", name, redactURL(pc.cfg.Endpoint))
}

// Interface guards.
var (
	_ integration.Kind      = (*Kind)(nil)
	_ integration.Closer    = (*Kind)(nil)
	_ integration.Forgetter = (*Kind)(nil)
	_ integration.Targeter  = (*Kind)(nil)
)
