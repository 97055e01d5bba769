package graphql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mcpexecutor/executor/mcpproxy/integration"
)

// Config is a GraphQL integration's configuration, stored as
// integration.Connection.Config.
type Config struct {
	// Endpoint is the http(s) URL that operations are POSTed to.
	Endpoint string `json:"endpoint"`
	// Headers are sent with every request. The connection's credential is
	// applied after them, so it wins for the same header.
	Headers map[string]string `json:"headers,omitempty"`
	// QueryParams are added to the endpoint's query string.
	QueryParams map[string]string `json:"queryParams,omitempty"`
	// SDL is the schema the integration was added with: SDL text, as
	// Schema.SDL returns it, or an introspection result. Calls check a
	// `select` against it; when it is empty they introspect the endpoint.
	SDL string `json:"sdl,omitempty"`
}

// Validate reports a configuration that cannot work, naming the field.
func (c Config) Validate() error {
	if _, err := parseEndpoint(c.Endpoint); err != nil {
		return fmt.Errorf("endpoint: %w", err)
	}
	if c.SDL != "" {
		if _, err := ParseSchema([]byte(c.SDL)); err != nil {
			return fmt.Errorf("sdl: %w", err)
		}
	}
	return nil
}

func decodeConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if len(raw) == 0 {
		return c, errors.New("the GraphQL integration has no configuration")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("reading the GraphQL integration's configuration: %w", err)
	}
	return c, nil
}

// Kind is the "graphql" integration kind. The zero Kind is ready to use; it
// is safe for concurrent use and must not be copied after first use.
type Kind struct {
	// ResponseHeadersTimeout bounds the wait for the endpoint's response
	// headers; zero means integration.ResponseHeadersTimeout.
	ResponseHeadersTimeout time.Duration
	// ResponseBodyTimeout bounds reading the response body once headers
	// have arrived; zero means integration.ResponseBodyTimeout.
	ResponseBodyTimeout time.Duration

	mu      sync.Mutex
	schemas map[string]*Schema // by schemaKey; for checking `select`
	loading map[string]*load   // by schemaKey; loads in progress
}

// maxCachedSchemas bounds the schemas a Kind keeps; one per integration is
// the usual need.
const maxCachedSchemas = 64

// Name is "graphql".
func (k *Kind) Name() string { return "graphql" }

// Produce returns the catalog built when the integration was added
// (c.Base). Without one it builds the catalog from the configured SDL, or
// else by introspecting the endpoint with the connection's credential.
func (k *Kind) Produce(ctx context.Context, c *integration.Connection) (*integration.Catalog, error) {
	if c.Base != nil {
		return c.Base, nil
	}
	cfg, err := decodeConfig(c.Config)
	if err != nil {
		return nil, err
	}
	s, err := k.loadSchema(ctx, c, cfg)
	if err != nil {
		return nil, err
	}
	k.remember(schemaKey(c, cfg), s)
	return s.Catalog()
}

// Forget drops the schema introspected for a connection.
func (k *Kind) Forget(connectionKey string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	prefix := "introspected\x00" + connectionKey + "\x00"
	for key := range k.schemas {
		if strings.HasPrefix(key, prefix) {
			delete(k.schemas, key)
		}
	}
}

// schemaFor returns the schema a call checks `select` against: the
// configured SDL, or the endpoint's introspection result, kept per
// connection because an endpoint may show each credential its own schema.
// Concurrent calls that miss the cache share one load.
func (k *Kind) schemaFor(ctx context.Context, c *integration.Connection, cfg Config) (*Schema, error) {
	key := schemaKey(c, cfg)
	for {
		k.mu.Lock()
		if s := k.schemas[key]; s != nil {
			k.mu.Unlock()
			return s, nil
		}
		if l := k.loading[key]; l != nil {
			k.mu.Unlock()
			select {
			case <-l.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if l.err != nil && ctx.Err() == nil && (errors.Is(l.err, context.Canceled) || errors.Is(l.err, context.DeadlineExceeded)) {
				continue // the caller that loaded gave up; this one has not
			}
			return l.s, l.err
		}
		l := &load{done: make(chan struct{})}
		if k.loading == nil {
			k.loading = map[string]*load{}
		}
		k.loading[key] = l
		k.mu.Unlock()

		l.s, l.err = k.loadSchema(ctx, c, cfg)
		k.mu.Lock()
		delete(k.loading, key)
		k.mu.Unlock()
		if l.err == nil {
			k.remember(key, l.s)
		}
		close(l.done)
		return l.s, l.err
	}
}

// load is a schema being loaded; done closes when s or err is set.
type load struct {
	done chan struct{}
	s    *Schema
	err  error
}

func (k *Kind) loadSchema(ctx context.Context, c *integration.Connection, cfg Config) (*Schema, error) {
	if cfg.SDL != "" {
		return ParseSchema([]byte(cfg.SDL))
	}
	return introspect(ctx, c.HTTP, cfg.Endpoint, cfg.QueryParams, cfg.Headers, c.Credential, k.timeouts(maxIntrospectionBytes))
}

func (k *Kind) remember(key string, s *Schema) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.schemas == nil {
		k.schemas = map[string]*Schema{}
	}
	if _, ok := k.schemas[key]; !ok && len(k.schemas) >= maxCachedSchemas {
		for old := range k.schemas {
			delete(k.schemas, old)
			break
		}
	}
	k.schemas[key] = s
}

// schemaKey identifies a schema source: the SDL's digest, or the connection
// and endpoint that were introspected.
func schemaKey(c *integration.Connection, cfg Config) string {
	if cfg.SDL != "" {
		sum := sha256.Sum256([]byte(cfg.SDL))
		return "sdl\x00" + hex.EncodeToString(sum[:])
	}
	conn := c.Key
	if conn == "" {
		conn = strings.Join([]string{c.Integration, c.Owner, c.Subject, c.Name}, "/")
	}
	return "introspected\x00" + conn + "\x00" + cfg.Endpoint
}

func (k *Kind) timeouts(maxBytes int64) timeouts {
	t := timeouts{headers: k.ResponseHeadersTimeout, body: k.ResponseBodyTimeout, maxBytes: maxBytes}
	if t.headers <= 0 {
		t.headers = integration.ResponseHeadersTimeout
	}
	if t.body <= 0 {
		t.body = integration.ResponseBodyTimeout
	}
	return t
}

// Target is where a call goes: the operation, POSTed to the endpoint (its
// query string, which may hold a key, left out).
func (k *Kind) Target(c *integration.Connection, tool *integration.Tool, _ json.RawMessage) string {
	if c == nil || tool == nil {
		return ""
	}
	cfg, err := decodeConfig(c.Config)
	if err != nil {
		return ""
	}
	u, err := parseEndpoint(cfg.Endpoint)
	var meta toolMeta
	if err != nil || json.Unmarshal(tool.Meta, &meta) != nil || meta.Field == "" {
		return ""
	}
	return fmt.Sprintf("POST %s (GraphQL %s %s)", endpointLabel(u), meta.Operation, meta.Field)
}

// Interface guards.
var (
	_ integration.Kind      = (*Kind)(nil)
	_ integration.Forgetter = (*Kind)(nil)
	_ integration.Targeter  = (*Kind)(nil)
)
