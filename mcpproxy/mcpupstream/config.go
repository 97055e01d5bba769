package mcpupstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Config is an MCP integration's kind-specific configuration, stored as JSON
// with the integration.
//
// A remote server needs Endpoint; a stdio server needs Command. Env values of
// a stdio server may reference the connection's credential with `${name}`:
// `${token}` (or any other variable of the connection's API-key template) is
// replaced by that credential value and `${accessToken}` by the OAuth access
// token when the child starts; `$${` stands for a literal `${`. Credentials
// are never put into Args, which other local users can read in ps(1).
type Config struct {
	// Transport is "remote" or "stdio".
	Transport string `json:"transport"`
	// Endpoint is the remote server's URL (http or https).
	Endpoint string `json:"endpoint,omitempty"`
	// RemoteTransport is "streamable-http", "sse" or "auto" (the default):
	// streamable HTTP first, and the legacy HTTP+SSE transport only when the
	// first fails as a transport (never on 401 or 403).
	RemoteTransport string `json:"remoteTransport,omitempty"`
	// Headers are sent on every request to a remote server, before the
	// connection's credential is applied.
	Headers map[string]string `json:"headers,omitempty"`
	// QueryParams are added to every request URL of a remote server.
	QueryParams map[string]string `json:"queryParams,omitempty"`
	// Command is the program of a stdio server, found through PATH.
	Command string `json:"command,omitempty"`
	// Args are the program's arguments.
	Args []string `json:"args,omitempty"`
	// Env is the child's environment on top of PATH, HOME and LANG; nothing
	// else of the gateway's own environment reaches it.
	Env map[string]string `json:"env,omitempty"`
	// Cwd is the child's working directory (absolute); it is also its HOME.
	// Without it, each connection gets a private temporary directory.
	Cwd string `json:"cwd,omitempty"`
}

// Transports.
const (
	transportRemote  = "remote"
	transportStdio   = "stdio"
	remoteAuto       = "auto"
	remoteStreamable = "streamable-http"
	remoteSSE        = "sse"
)

var (
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envRef    = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}`)
	tokenChar = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// reservedHeaders are set by the MCP transport itself; a configuration that
// overrode them would break the protocol or smuggle a session.
var reservedHeaders = map[string]bool{
	"accept": true, "content-type": true, "content-length": true, "host": true,
	"connection": true, "transfer-encoding": true, "upgrade": true, "te": true,
	"mcp-session-id": true, "mcp-protocol-version": true, "last-event-id": true,
	"mcp-method": true, "mcp-name": true,
}

// ParseConfig decodes an integration's configuration. Fields it does not know
// (the integration's name, its auth template) are ignored: they belong to
// the gateway.
func ParseConfig(raw json.RawMessage) (Config, error) {
	var c Config
	if len(raw) == 0 {
		return c, errors.New("the MCP integration has no configuration")
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("reading the MCP integration's configuration: %w", err)
	}
	return c, nil
}

// Validate reports the first problem with c as a sentence that names the
// field. allowStdio is the operator's switch for local child processes.
func (c Config) Validate(allowStdio bool) error {
	switch c.Transport {
	case transportRemote:
		return c.validateRemote()
	case transportStdio:
		if !allowStdio {
			return errors.New("stdio MCP servers are disabled on this gateway")
		}
		return c.validateStdio()
	case "":
		return errors.New(`transport is required: use "remote" with an endpoint, or "stdio" with a command`)
	default:
		return fmt.Errorf(`transport %q is not supported: use "remote" or "stdio"`, c.Transport)
	}
}

func (c Config) validateRemote() error {
	if c.Command != "" || len(c.Args) > 0 || len(c.Env) > 0 || c.Cwd != "" {
		return errors.New(`command, args, env and cwd are only used with transport "stdio"; remove them or change the transport`)
	}
	if c.Endpoint == "" {
		return errors.New("endpoint is required for a remote MCP server")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("endpoint %q is not an absolute URL", redactURL(c.Endpoint))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("endpoint must use http or https, not %q", u.Scheme)
	}
	if u.User != nil {
		return errors.New("endpoint must not contain a user name or password; put credentials in headers or the connection's credential")
	}
	if u.Fragment != "" {
		return errors.New("endpoint must not contain a fragment (#…)")
	}
	switch c.RemoteTransport {
	case "", remoteAuto, remoteStreamable, remoteSSE:
	default:
		return fmt.Errorf(`remoteTransport %q is not supported: use "streamable-http", "sse" or "auto"`, c.RemoteTransport)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		if !tokenChar.MatchString(name) {
			return fmt.Errorf("headers: %q is not a valid header name", name)
		}
		if reservedHeaders[strings.ToLower(name)] {
			return fmt.Errorf("headers: %s is set by the MCP transport and cannot be configured", name)
		}
		if strings.ContainsAny(c.Headers[name], "\r\n\x00") {
			return fmt.Errorf("headers: the value of %s contains a line break or NUL", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.QueryParams)) {
		if name == "" {
			return errors.New("queryParams: a parameter name is empty")
		}
		if strings.ContainsAny(name+c.QueryParams[name], "\x00") {
			return fmt.Errorf("queryParams: %s contains a NUL character", name)
		}
	}
	return nil
}

func (c Config) validateStdio() error {
	if c.Endpoint != "" || c.RemoteTransport != "" || len(c.Headers) > 0 || len(c.QueryParams) > 0 {
		return errors.New(`endpoint, remoteTransport, headers and queryParams are only used with transport "remote"; remove them or change the transport`)
	}
	if strings.TrimSpace(c.Command) == "" {
		return errors.New("command is required for a stdio MCP server")
	}
	if strings.ContainsRune(c.Command, 0) {
		return errors.New("command contains a NUL character")
	}
	for i, a := range c.Args {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("args[%d] contains a NUL character", i)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Env)) {
		if !envName.MatchString(name) {
			return fmt.Errorf("env: %q is not a valid variable name (letters, digits and _; not starting with a digit)", name)
		}
		v := c.Env[name]
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("env: the value of %s contains a NUL character", name)
		}
		for _, m := range envRef.FindAllStringSubmatch(v, -1) {
			if m[0] != "$${" && !envName.MatchString(m[1]) {
				return fmt.Errorf("env: the value of %s references ${%s}, which is not a valid variable name", name, m[1])
			}
		}
	}
	if c.Cwd != "" && !filepath.IsAbs(c.Cwd) {
		return fmt.Errorf("cwd %q must be an absolute path", c.Cwd)
	}
	return nil
}

// expandEnv fills `${name}` references in v from vars.
func expandEnv(v string, vars map[string]string) (string, error) {
	var missing string
	out := envRef.ReplaceAllStringFunc(v, func(m string) string {
		if m == "$${" {
			return "${"
		}
		name := m[2 : len(m)-1]
		val, ok := vars[name]
		if !ok || val == "" {
			if missing == "" {
				missing = name
			}
			return ""
		}
		return val
	})
	if missing != "" {
		return "", fmt.Errorf("${%s} has no value in the connection's credential", missing)
	}
	return out, nil
}

// redactURL drops the query and user info of a URL for messages: query
// parameters often carry API keys.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}
