// Package mcpproxy is the product core of the gateway: the MCP endpoint
// (execute, resume, skills), the tool catalog with search and describe, the
// single Invoke path every tool call goes through, and the JSON API the
// console uses. It knows nothing about Caddy: the caddymodule package verifies
// identity, puts a Principal in the request context and calls ServeMCP or
// ServeAPI.
package mcpproxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/mcpproxy/graphql"
	"github.com/mcpexecutor/executor/mcpproxy/integration"
	"github.com/mcpexecutor/executor/mcpproxy/mcpupstream"
	"github.com/mcpexecutor/executor/mcpproxy/oauth"
	"github.com/mcpexecutor/executor/mcpproxy/openapi"
	"github.com/mcpexecutor/executor/sandbox"
	"github.com/mcpexecutor/executor/store"
)

// Config is what a Gateway needs from its host. The zero value of every
// optional field is a sensible default.
type Config struct {
	// Store holds all persistent state. Required.
	Store store.Store
	// Organization is the single tenant; DefaultOrganization when empty.
	Organization Organization
	// Logger receives operational logs; slog.Default when nil.
	Logger *slog.Logger
	// Version is reported in serverInfo and the console.
	Version string
	// Kinds are the integration kinds this gateway can run.
	Kinds []integration.Kind
	// HTTPClient reaches upstreams. It must be the egress-guarded client in
	// production; nil means a default client.
	HTTPClient *http.Client
	// Sandbox runs code-mode executions. Required for execute.
	Sandbox *sandbox.Engine
	// Limits bound each execution; zero values mean the sandbox defaults.
	Limits sandbox.Limits
	// AllowLocalNetwork permits integration URLs on loopback and private
	// addresses (the HTTPClient enforces it at dial time; this is the
	// save-time check).
	AllowLocalNetwork bool
	// AllowStdio permits MCP servers started as local child processes.
	AllowStdio bool
	// ApprovalTimeout is how long a paused call waits for a decision before
	// it is declined; DefaultApprovalTimeout when zero.
	ApprovalTimeout time.Duration
	// ApprovalModes are the elicitation modes agents may connect with
	// (ModeModel, ModeBrowser, ModeNative), the first being the default for
	// an agent that asks for none or for one not listed. Empty means all
	// three with model first, the reference behaviour, in which the agent
	// itself answers the approval. Leave ModeModel out so that only a
	// person can approve a call: in the console, or in the agent's client.
	ApprovalModes []string
	// AuditMaxEntries and AuditMaxAge bound the audit log; the defaults when
	// zero.
	AuditMaxEntries int
	AuditMaxAge     time.Duration
	// PrincipalRate bounds the calls of one principal (a person or a
	// service token): every tools/call an agent sends to the MCP endpoint
	// (execute, resume) and every tool call a script or the console makes.
	// An agent over it gets HTTP 429 with Retry-After; a script, a
	// rate_limited tool error. ConnectionRate bounds the tool calls made
	// through one connection, by everyone together, so that no upstream is
	// flooded through the gateway. Zero means no limit.
	PrincipalRate, ConnectionRate RateLimit
	// Busy, when set, is called as each unit of work begins (an MCP message,
	// an API request; not an open event stream), and the function it returns
	// as it ends: the caller sizes the process to the load with it. Fixed at
	// New.
	Busy func() (end func())

	clock      func() time.Time // the rate limits' clock, for tests; time.Now when nil
	maxWaiting int              // maxWaitingPerPrincipal when zero; for tests
	maxRunning int              // maxRunningPerPrincipal when zero; for tests
}

// approvalTimeout is ApprovalTimeout or its default.
func (c Config) approvalTimeout() time.Duration {
	if c.ApprovalTimeout <= 0 {
		return DefaultApprovalTimeout
	}
	return c.ApprovalTimeout
}

// Gateway serves the MCP endpoint and the API for one store. It is safe for
// concurrent use and lives across configuration reloads: Reconfigure swaps
// the settings that may change without dropping sessions.
type Gateway struct {
	store  store.Store
	logger *slog.Logger

	mu  sync.RWMutex
	cfg Config

	sessions     *sessionRegistry
	mcp          *mcpEndpoint
	direct       directEndpoints
	api          http.Handler
	catalog      *catalog
	kinds        map[string]integration.Kind
	sandbox      *sandbox.Engine
	bases        sync.Map // integration slug → *integration.Catalog
	refreshing   sync.Map // connection key → true while a refresh runs
	policies     *policySet
	auditLog     *auditLog
	decisions    decisionWaiters
	inflight     sync.Map // execution id → chan struct{} closed when its resume ends
	oauthRefresh oauth.RefreshGroup
	records      recordCache // the records of tool calls' connections
	limits       atomic.Pointer[rateLimits]
	// executionsPruned is when old executions were last pruned (Unix ms).
	executionsPruned atomic.Int64
	storageWarned    atomic.Int64     // the database size last warned about
	running          counters         // executions running, per principal
	now              func() time.Time // the rate limits' clock
	busy             func() (end func())
}

// New returns a Gateway over cfg.Store.
func New(cfg Config) (*Gateway, error) {
	if cfg.Store == nil {
		return nil, errors.New("mcpproxy: a store is required")
	}
	cfg = withDefaults(cfg)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Gateway{store: cfg.Store, logger: cfg.Logger, cfg: cfg, kinds: map[string]integration.Kind{}, sandbox: cfg.Sandbox, now: time.Now, busy: cfg.Busy}
	g.limits.Store(newRateLimits(cfg.PrincipalRate, cfg.ConnectionRate))
	if cfg.clock != nil {
		g.now = cfg.clock
	}
	for _, k := range []integration.Kind{
		&openapi.Kind{},
		&graphql.Kind{},
		mcpupstream.New(mcpupstream.Options{AllowStdio: cfg.AllowStdio, Logger: cfg.Logger.With("component", "mcp-upstream")}),
	} {
		g.kinds[k.Name()] = k
	}
	for _, k := range cfg.Kinds {
		g.kinds[k.Name()] = k
	}
	g.catalog = newCatalog(g.systemTools())
	g.catalog.changed = g.connectionChanged
	if err := g.catalog.load(cfg.Store, g.integrationKind, g.base); err != nil {
		return nil, fmt.Errorf("loading the tool catalog: %w", err)
	}
	g.policies = &policySet{}
	if err := g.policies.load(cfg.Store); err != nil {
		return nil, fmt.Errorf("loading policies: %w", err)
	}
	g.auditLog = newAuditLog(g)
	g.checkStorage()
	g.sessions = newSessionRegistry(cfg.Store, cfg.Logger)
	g.mcp = newMCPEndpoint(g)
	g.api = g.newAPI()
	return g, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Organization == (Organization{}) {
		cfg.Organization = DefaultOrganization
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = egress.NewClient(egress.Options{})
	}
	return cfg
}

func (c Config) validate() error {
	return errors.Join(c.Organization.Validate(), ValidApprovalModes(c.ApprovalModes),
		c.PrincipalRate.Validate("the principal rate limit"), c.ConnectionRate.Validate("the connection rate limit"))
}

// Reconfigure applies settings from a reloaded configuration. The store,
// the sandbox and the integration kinds are fixed for the life of the
// Gateway and are ignored here.
func (g *Gateway) Reconfigure(cfg Config) error {
	cfg.Store, cfg.Sandbox, cfg.Kinds = g.store, g.sandbox, g.cfg.Kinds
	cfg = withDefaults(cfg)
	if err := cfg.validate(); err != nil {
		return err
	}
	g.mu.Lock()
	if cfg.PrincipalRate != g.cfg.PrincipalRate || cfg.ConnectionRate != g.cfg.ConnectionRate {
		g.limits.Store(newRateLimits(cfg.PrincipalRate, cfg.ConnectionRate))
	}
	g.cfg = cfg
	g.mu.Unlock()
	return nil
}

func (g *Gateway) config() Config {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.cfg
}

// Close ends every MCP session's streams and stops what integration kinds
// hold (pooled clients, child processes). It does not close the store,
// which belongs to the caller.
func (g *Gateway) Close() error {
	g.mcp.close()
	g.direct.close()
	g.auditLog.close()
	var errs []error
	for _, k := range g.kinds {
		if c, ok := k.(integration.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// ServeMCP serves the streamable-HTTP MCP endpoint. The request context must
// carry a Principal (WithPrincipal).
func (g *Gateway) ServeMCP(w http.ResponseWriter, r *http.Request) {
	g.mcp.ServeHTTP(w, r)
}

// ServeAPI serves the JSON API under /api. The request context must carry a
// Principal (WithPrincipal).
func (g *Gateway) ServeAPI(w http.ResponseWriter, r *http.Request) {
	defer g.work()()
	g.api.ServeHTTP(w, r)
}

// work reports a unit of work to Config.Busy until the returned function is
// called.
func (g *Gateway) work() (end func()) {
	if g.busy == nil {
		return func() {}
	}
	return g.busy()
}
