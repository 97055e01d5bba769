// Package caddymodule adapts the gateway to Caddy: the `executor` app (owns
// the state), the `executor` HTTP handler (routes /mcp, /api, the well-known
// OAuth documents and the console), and the `cloudflare_access` and `jwt`
// authentication providers. It is thin: it reads configuration, verifies
// identity, then calls into mcpproxy.
package caddymodule

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/mcpexecutor/executor/mcpproxy"
	"github.com/mcpexecutor/executor/mcpproxy/egress"
	"github.com/mcpexecutor/executor/sandbox"
	"github.com/mcpexecutor/executor/store"
)

func init() {
	caddy.RegisterModule(App{})
}

// minSecretKeyLen is the shortest secret_key accepted.
const minSecretKeyLen = 16

// instances holds one open store and gateway per database path, shared by
// every configuration that names that path. A reload provisions the new
// configuration before the old one is cleaned up, and bbolt holds an
// exclusive file lock, so opening the file again would block: the pool hands
// the new configuration the same open database instead.
var instances = caddy.NewUsagePool()

// App is the `executor` app: it owns the gateway's state (one bbolt file) and
// the gateway core that every `executor` handler serves.
//
// The store is opened in Start, not Provision, so that `caddy validate` and
// `caddy adapt` never touch the database of a running server.
type App struct {
	// Storage is the path of the database file. Default:
	// `<Caddy data dir>/executor/executor.db` (e.g. ~/.local/share/caddy/executor/executor.db).
	Storage string `json:"storage,omitempty"`

	// SecretKey seals stored credentials. Required when any `executor`
	// handler uses access (production), at least 16 characters. Give it as a
	// placeholder, e.g. `{env.EXECUTOR_SECRET_KEY}`, so the key never appears
	// in the config that Caddy's admin API serves. When omitted in local
	// mode, a random key is generated into `secret.key` (mode 0600) next to
	// the database on first start.
	SecretKey string `json:"secret_key,omitempty"`

	// SecretKeyFile reads the secret key from a file (first line) instead.
	SecretKeyFile string `json:"secret_key_file,omitempty"`

	// Organization is the single tenant every signed-in principal belongs
	// to. Default: id "default", name "Default", slug "default".
	Organization *mcpproxy.Organization `json:"organization,omitempty"`

	// AllowLocalNetwork lets integrations reach loopback, private and
	// link-local addresses (cloud metadata addresses stay refused). Default:
	// on when every executor handler is in local mode, off otherwise.
	AllowLocalNetwork *bool `json:"allow_local_network,omitempty"`

	// ExecutionTimeout is the CPU budget of one code-mode execution; time
	// spent waiting for tool calls and approvals does not count. Default 300s.
	ExecutionTimeout caddy.Duration `json:"execution_timeout,omitempty"`

	// ExecutionMemory is the memory of one execution's sandbox, in bytes.
	// Default 64 MiB.
	ExecutionMemory int64 `json:"execution_memory,omitempty"`

	// AllowStdio lets MCP servers run as child processes of the gateway.
	// Default: on when every executor handler is in local mode, off otherwise.
	AllowStdio *bool `json:"allow_stdio,omitempty"`

	// ApprovalModes are how agents may get a person's approval: "model"
	// (the agent asks in the chat and answers with its resume tool),
	// "browser" (a link to the console), "native" (MCP elicitation in the
	// agent's client). The first is the default for an agent that asks for
	// none or for one not listed. Default: model browser native. Leave out
	// model so that an agent cannot approve its own calls.
	ApprovalModes []string `json:"approval_modes,omitempty"`

	// PrincipalRateLimit bounds the tool calls of one principal: every
	// tools/call an agent sends (HTTP 429 with Retry-After beyond it) and
	// every tool call its scripts or the console make (a rate_limited tool
	// error). ConnectionRateLimit bounds the tool calls through one
	// connection, by everyone together. A zero rate turns a limit off.
	// Default: off when every executor handler is in local mode, else
	// DefaultPrincipalRateLimit and DefaultConnectionRateLimit.
	PrincipalRateLimit  *mcpproxy.RateLimit `json:"principal_rate_limit,omitempty"`
	ConnectionRateLimit *mcpproxy.RateLimit `json:"connection_rate_limit,omitempty"`

	// Integrations declared here (config as code) are created at start and
	// kept in line with this list on every reload; run-time integrations are
	// left alone.
	Integrations []mcpproxy.DeclaredIntegration `json:"integrations,omitempty"`

	// Connections declared here; credential values may (and should) be
	// placeholders such as {env.PETS_API_KEY}, resolved at start.
	Connections []ConnectionConfig `json:"connections,omitempty"`

	ctx      caddy.Context
	logger   *zap.Logger
	path     string
	reg      *registry
	inst     *instance
	acquired bool
	// ready is closed when Start has the gateway running: Caddy starts its
	// apps in no particular order, so the HTTP server may take requests a
	// moment before.
	ready chan struct{}
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "executor",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves paths and validates settings; it opens nothing.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.reg = new(registry)
	a.ready = make(chan struct{})
	path := strings.TrimSpace(caddy.NewReplacer().ReplaceKnown(a.Storage, ""))
	if path == "" {
		path = filepath.Join(caddy.AppDataDir(), "executor", "executor.db")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("storage path %q: %w", path, err)
	}
	a.path = abs
	if a.SecretKey != "" && a.SecretKeyFile != "" {
		return errors.New("set either secret_key or secret_key_file, not both")
	}
	if a.Organization != nil {
		if err := a.Organization.Validate(); err != nil {
			return fmt.Errorf("organization: %w", err)
		}
	}
	for name, l := range map[string]*mcpproxy.RateLimit{"principal_rate_limit": a.PrincipalRateLimit, "connection_rate_limit": a.ConnectionRateLimit} {
		if l != nil {
			if err := l.Validate(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// register is called by each handler's Provision so the app knows whether
// any site runs in production (access) mode.
func (a *App) register(h *Handler) error {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	if !h.LocalAdmin && a.SecretKey == "" && a.SecretKeyFile == "" {
		return errors.New("secret_key is required when access is configured: add `secret_key {env.EXECUTOR_SECRET_KEY}` " +
			"to the `executor` global option and set EXECUTOR_SECRET_KEY (at least 16 characters; `openssl rand -hex 32` makes one)")
	}
	a.reg.handlers = append(a.reg.handlers, h)
	return nil
}

func (a *App) unregister(h *Handler) {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	for i, x := range a.reg.handlers {
		if x == h {
			a.reg.handlers = append(a.reg.handlers[:i], a.reg.handlers[i+1:]...)
			return
		}
	}
}

// registry is the set of handlers using this app.
type registry struct {
	mu       sync.Mutex
	handlers []*Handler
}

// Start opens (or reuses) the store and gateway for the configured path.
func (a *App) Start() error {
	key, err := a.secretKey()
	if err != nil {
		return err
	}
	logger := slog.New(zapslog.NewHandler(a.logger.Core()))
	local := a.allowLocalNetwork()
	cfg := mcpproxy.Config{
		Logger:            logger,
		Version:           buildVersion(),
		HTTPClient:        egress.NewClient(egress.Options{AllowLocalNetwork: local}),
		AllowLocalNetwork: local,
		AllowStdio:        a.allowStdio(),
		ApprovalModes:     a.ApprovalModes,
		PrincipalRate:     a.rateLimit(a.PrincipalRateLimit, DefaultPrincipalRateLimit),
		ConnectionRate:    a.rateLimit(a.ConnectionRateLimit, DefaultConnectionRateLimit),
		Limits:            sandbox.Limits{Timeout: time.Duration(a.ExecutionTimeout)},
	}
	if c := sharedCores(); c != nil {
		cfg.Busy = c.begin
	}
	if a.Organization != nil {
		cfg.Organization = *a.Organization
	}
	fingerprint := sha256.Sum256([]byte(key))
	engineOpts := sandbox.Options{
		CacheDir:    filepath.Join(filepath.Dir(a.path), "qjs-cache"),
		MemoryLimit: a.ExecutionMemory,
		Logger:      logger.With("component", "sandbox"),
	}
	v, loaded, err := instances.LoadOrNew(a.path, func() (caddy.Destructor, error) {
		return openInstance(a.path, key, cfg, engineOpts)
	})
	if err != nil {
		return err
	}
	inst := v.(*instance)
	a.inst, a.acquired = inst, true
	if loaded {
		if inst.keyFingerprint != fingerprint {
			return fmt.Errorf("secret_key changed for %s while the server is running; restart the process to use a different key", a.path)
		}
		if err := inst.gateway.Reconfigure(cfg); err != nil {
			return err
		}
	}
	if err := inst.gateway.ApplyDeclarations(a.ctx, a.declarations()); err != nil {
		return fmt.Errorf("applying declared integrations: %w", err)
	}
	a.logger.Info("executor state ready", zap.String("storage", a.path), zap.Bool("reused", loaded))
	close(a.ready)
	return nil
}

// ConnectionConfig is a connection declared in the configuration.
type ConnectionConfig struct {
	Integration string `json:"integration"`
	Owner       string `json:"owner"`
	Name        string `json:"name"`
	// Subject is the principal id owning a user connection.
	Subject  string `json:"subject,omitempty"`
	Template string `json:"template,omitempty"`
	// Values are the credential's variables ("token" for a single API key);
	// write them as placeholders, e.g. {env.PETS_API_KEY}.
	Values map[string]string `json:"values,omitempty"`
}

// declarations resolves placeholders in the declared integrations and
// connections.
func (a *App) declarations() mcpproxy.Declarations {
	repl := caddy.NewReplacer()
	d := mcpproxy.Declarations{Integrations: a.Integrations}
	for _, c := range a.Connections {
		values := map[string]string{}
		for k, v := range c.Values {
			values[k] = repl.ReplaceKnown(v, "")
		}
		d.Connections = append(d.Connections, mcpproxy.DeclaredConnection{Integration: c.Integration, Owner: c.Owner, Subject: c.Subject,
			Name: c.Name, Template: c.Template, Values: values})
	}
	return d
}

// secretKey resolves the key: configured, from a file, or, when every
// handler is local, generated once into the data directory.
func (a *App) secretKey() (string, error) {
	repl := caddy.NewReplacer()
	switch {
	case a.SecretKey != "":
		key := strings.TrimSpace(repl.ReplaceKnown(a.SecretKey, ""))
		if key == "" {
			return "", fmt.Errorf("secret_key %q is empty after replacing placeholders: set the environment variable it names", a.SecretKey)
		}
		if len(key) < minSecretKeyLen {
			return "", fmt.Errorf("secret_key must be at least %d characters (it has %d); generate one with `openssl rand -hex 32`", minSecretKeyLen, len(key))
		}
		return key, nil
	case a.SecretKeyFile != "":
		p := repl.ReplaceKnown(a.SecretKeyFile, "")
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("reading secret_key_file: %w", err)
		}
		key := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
		if len(key) < minSecretKeyLen {
			return "", fmt.Errorf("the key in secret_key_file %s must be at least %d characters", p, minSecretKeyLen)
		}
		return key, nil
	}
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	for _, h := range a.reg.handlers {
		if !h.LocalAdmin {
			return "", errors.New("secret_key is required when access is configured")
		}
	}
	keyPath := filepath.Join(filepath.Dir(a.path), "secret.key")
	key, created, err := store.GenerateKeyFile(keyPath)
	if err != nil {
		return "", fmt.Errorf("local secret key: %w", err)
	}
	if created {
		a.logger.Info("generated a secret key for local mode", zap.String("file", keyPath))
	}
	return key, nil
}

// allowLocalNetwork is the configured value, else on only when every
// handler is local.
func (a *App) allowLocalNetwork() bool {
	if a.AllowLocalNetwork != nil {
		return *a.AllowLocalNetwork
	}
	return a.allLocal()
}

// The rate limits outside local mode unless configured: far above what an
// agent at work makes, low enough that a runaway loop or a leaked token
// cannot flood an upstream through the gateway.
var (
	DefaultPrincipalRateLimit  = mcpproxy.RateLimit{Rate: 50, Burst: 200}
	DefaultConnectionRateLimit = mcpproxy.RateLimit{Rate: 100, Burst: 400}
)

// rateLimit is the configured limit, else none when every handler is local
// and def otherwise.
func (a *App) rateLimit(configured *mcpproxy.RateLimit, def mcpproxy.RateLimit) mcpproxy.RateLimit {
	switch {
	case configured != nil:
		return *configured
	case a.allLocal():
		return mcpproxy.RateLimit{}
	}
	return def
}

// allowStdio is the configured value, else on only when every handler is
// local.
func (a *App) allowStdio() bool {
	if a.AllowStdio != nil {
		return *a.AllowStdio
	}
	return a.allLocal()
}

func (a *App) allLocal() bool {
	a.reg.mu.Lock()
	defer a.reg.mu.Unlock()
	if len(a.reg.handlers) == 0 {
		return false
	}
	for _, h := range a.reg.handlers {
		if !h.LocalAdmin {
			return false
		}
	}
	return true
}

// Stop is a no-op: the state outlives a reload and is released in Cleanup.
func (a *App) Stop() error { return nil }

// Cleanup releases this configuration's hold on the shared state. It is
// safe after a failed Provision or Start.
func (a *App) Cleanup() error {
	if !a.acquired {
		return nil
	}
	a.acquired = false
	_, err := instances.Delete(a.path)
	return err
}

// buildVersion is the version of this module in the binary's build info.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// gateway returns the running gateway, waiting up to wait for Start to
// finish; nil if it has not.
func (a *App) gateway(ctx context.Context, wait time.Duration) *mcpproxy.Gateway {
	select {
	case <-a.ready:
		return a.inst.gateway
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-a.ready:
		return a.inst.gateway
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// instance is the state shared across reloads for one database path.
type instance struct {
	db             *store.DB
	engine         *sandbox.Engine
	gateway        *mcpproxy.Gateway
	keyFingerprint [32]byte
}

func openInstance(path, key string, cfg mcpproxy.Config, engineOpts sandbox.Options) (*instance, error) {
	db, err := store.Open(path, store.Options{SecretKey: key})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	engine, err := sandbox.New(engineOpts)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("starting the code-mode sandbox: %w", err)
	}
	cfg.Store = db
	cfg.Sandbox = engine
	gw, err := mcpproxy.New(cfg)
	if err != nil {
		_ = engine.Close()
		_ = db.Close()
		return nil, err
	}
	// Compiling QuickJS and loading the catalog leave tens of megabytes of
	// garbage that the runtime would hand back to the OS only slowly; a
	// gateway idles for most of its life, so return it now.
	debug.FreeOSMemory()
	return &instance{db: db, engine: engine, gateway: gw, keyFingerprint: sha256.Sum256([]byte(key))}, nil
}

// Destruct closes the gateway, the sandbox, then the database.
func (i *instance) Destruct() error {
	return errors.Join(i.gateway.Close(), i.engine.Close(), i.db.Close())
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*instance)(nil)
)
