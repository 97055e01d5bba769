// Command executor-bench measures what the gateway costs an agent: it
// builds the executor (or takes -binary), starts it on a temporary local
// default next to an upstream MCP server and an OpenAPI stub of its own,
// drives them with concurrent MCP clients over real HTTP on 127.0.0.1, and
// prints p50/p90/p99 latency, requests per second and the gateway's peak
// RSS per scenario, with each overhead against a direct call to the
// upstream measured in the same run, and the issues' targets met or not.
//
//	go run ./cmd/executor-bench                 # full run, under five minutes
//	go run ./cmd/executor-bench -duration 1s -imports 1 -gobench off  # the same rows in under a minute
//	go run ./cmd/executor-bench -short          # CI smoke: every scenario completes
//	go run ./cmd/executor-bench -out BENCHMARKS.md   # also rewrite the file's results section
//
// Every process it starts is stopped and every temporary folder removed
// when it ends, also on Ctrl-C or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	short    bool
	clients  []int
	duration time.Duration
	warmup   time.Duration
	binary   string
	out      string
	github   string   // GitHub's REST description; "" = testdata/npm's copy
	imports  int      // repetitions of the GitHub import
	goBench  bool     // also run mcpproxy's in-process search benchmark
	args     []string // as given, for the report

	only     []string // scenario ids to run; nil: all
	revision string   // what -binary was built from, for the report

	nice int // scheduling priority of the harness and the gateway (0: unchanged)

	cpuprofile      string // write a CPU profile of the gateway here
	profileScenario string // during this scenario, at the first client count
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	// A closed stdout or stderr (| head) must not kill the harness before it
	// has stopped the gateway and removed its folder.
	signal.Ignore(syscall.SIGPIPE)
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		signal.Stop(sigs) // a second signal kills the harness outright
		fmt.Fprintf(os.Stderr, "executor-bench: %v: stopping and cleaning up (again to force)\n", sig)
		cancel()
	}()
	sum, err := run(ctx, opts, os.Stdout, os.Stderr)
	code := 0
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "executor-bench: interrupted; everything it started is stopped")
		code = 130
	case err != nil:
		fmt.Fprintln(os.Stderr, "executor-bench:", err)
		code = 2
	case len(sum.failed) > 0:
		fmt.Fprintf(os.Stderr, "executor-bench: %d scenario(s) failed: %s\n", len(sum.failed), strings.Join(sum.failed, "; "))
		code = 1
	}
	cancel()
	os.Exit(code)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("executor-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{args: args}
	clients := fs.String("clients", "1,8", "comma-separated numbers of concurrent MCP clients")
	fs.BoolVar(&o.short, "short", false, "CI smoke: a few iterations per scenario; checks that each completes, not how fast")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per scenario and client count")
	fs.DurationVar(&o.warmup, "warmup", 0, "excluded warm-up per measurement (default: duration/20, at least 500ms)")
	fs.StringVar(&o.binary, "binary", "", "an executor binary to run instead of building ./cmd/executor")
	fs.StringVar(&o.revision, "revision", "", "with -binary: what it was built from (a commit), for the report")
	fs.StringVar(&o.out, "out", "", "also write the results into this Markdown file, between the executor-bench markers")
	fs.StringVar(&o.github, "github", "", "GitHub's REST OpenAPI description (default: testdata/npm/node_modules/@octokit/openapi/generated/api.github.com.json)")
	fs.IntVar(&o.imports, "imports", 0, "repetitions of the GitHub import (default 3, 1 with -short)")
	only := fs.String("only", "", "run only these scenarios (comma-separated ids, e.g. 3,5b); for looking into one figure")
	fs.IntVar(&o.nice, "nice", 0, "run the harness and the gateway at this nice value, e.g. -10 on a machine shared with builds (Linux; negative values need root or CAP_SYS_NICE)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the gateway (from Caddy's admin API) during -profile-scenario to this file")
	fs.StringVar(&o.profileScenario, "profile-scenario", "2", "the scenario -cpuprofile records (its measured phase at the first -clients count)")
	gobench := fs.String("gobench", "auto", "also run `go test ./mcpproxy -bench SearchOver1000Tools` (on, off, auto = on unless -short)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return o, errors.New("usage")
	}
	for _, f := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 256 {
			fmt.Fprintf(stderr, "-clients: %q is not a number of clients between 1 and 256\n", f)
			return o, errors.New("usage")
		}
		o.clients = append(o.clients, n)
	}
	if *only != "" {
		for _, id := range strings.Split(*only, ",") {
			o.only = append(o.only, strings.TrimSpace(id))
		}
	}
	if o.warmup == 0 {
		o.warmup = max(o.duration/20, 500*time.Millisecond)
	}
	if o.imports == 0 {
		o.imports = 3
		if o.short {
			o.imports = 1
		}
	}
	switch *gobench {
	case "on", "true":
		o.goBench = true
	case "off", "false":
	case "auto":
		o.goBench = !o.short
	default:
		fmt.Fprintf(stderr, "-gobench: %q is not on, off or auto\n", *gobench)
		return o, errors.New("usage")
	}
	return o, nil
}

func (o options) plan() plan {
	if o.short {
		return plan{warmupN: 2, iterations: 10}
	}
	return plan{warmup: o.warmup, duration: o.duration}
}

// selected reports whether scenario id runs (-only).
func (o options) selected(id string) bool {
	return o.only == nil || slices.Contains(o.only, id)
}

// clientCounts are the client counts a scenario is measured at.
func (o options) clientCounts(sc *scenario) []int {
	if sc.oneClient {
		return []int{1}
	}
	return o.clients
}
