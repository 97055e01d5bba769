// Command executor is Caddy with the Executor gateway built in: every Caddy
// command works (run, start, reload, adapt, validate, list-modules, version…),
// and run/start/reload/adapt/validate use the embedded local default when
// neither --config nor a ./Caddyfile is given.
package main

import (
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/mcpexecutor/executor/caddymodule"
)

func main() {
	os.Args = withDefaultConfig(os.Args)
	caddycmd.Main()
}
