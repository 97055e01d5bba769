// Package executor holds the local-default Caddyfile so the binary can run
// it from any folder. The program itself is cmd/executor; the gateway is
// built from caddymodule, mcpproxy, sandbox and store.
package executor

import _ "embed"

// DefaultCaddyfile is the repository's Caddyfile: the loopback-only local
// default that `executor run` uses when no configuration is given.
//
//go:embed Caddyfile
var DefaultCaddyfile []byte
