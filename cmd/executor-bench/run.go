package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// summary is what a run leaves behind: the report, the scenarios that
// failed, and what it started (for the tests to check it is all gone).
type summary struct {
	tmp        string
	gatewayPID int
	failed     []string
	report     string
}

// bench is one run's world: the gateway, the two local upstreams and the
// addresses of their tools.
type bench struct {
	opts     options
	progress io.Writer
	gw       *gateway
	upstream *localServer
	stub     *localServer
	echo     string // tools.bench.org.main.echo
	work     string
	getPet   string
	ghGet    string // GitHub's issues.get, once imported
	res      *results
	sum      *summary
}

func (b *bench) logf(format string, args ...any) { fmt.Fprintf(b.progress, format+"\n", args...) }

// run is the whole benchmark. Setup failures are errors; a scenario that
// fails is listed in summary.failed and the run goes on.
func run(ctx context.Context, o options, stdout, progress io.Writer) (*summary, error) {
	sum := &summary{}
	b := &bench{opts: o, progress: progress, sum: sum,
		res: &results{opts: o, started: time.Now().UTC(), machine: describeMachine(ctx)}}

	tmp, err := os.MkdirTemp("", "executor-bench-")
	if err != nil {
		return sum, err
	}
	sum.tmp = tmp
	defer os.RemoveAll(tmp)
	b.logf("executor-bench: temporary folder %s", tmp)

	root, rootErr := moduleRoot(ctx)
	bin := o.binary
	if bin == "" {
		if rootErr != nil {
			return sum, rootErr
		}
		b.logf("building the gateway: go build ./cmd/executor …")
		t := time.Now()
		if bin, err = buildGateway(ctx, root, tmp, progress); err != nil {
			return sum, err
		}
		b.logf("  built in %.1f s", time.Since(t).Seconds())
	}
	switch {
	case o.binary != "" && o.revision != "":
		b.res.revision = "-binary built from " + o.revision
	case o.binary != "":
		b.res.revision = "-binary " + o.binary
	case rootErr == nil:
		b.res.revision = "built from " + gitRevision(ctx, root)
	}
	// Right after the build, so that both see the same working tree.
	if o.goBench && rootErr == nil {
		b.logf("go test ./mcpproxy -run '^$' -bench SearchOver1000Tools …")
		b.res.goBench = goSearchBench(ctx, root, progress)
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
	}

	if o.nice != 0 {
		if err := renice(0, o.nice); err != nil {
			return sum, fmt.Errorf("-nice %d: %w", o.nice, err)
		}
	}
	if b.upstream, err = startUpstream(); err != nil {
		return sum, fmt.Errorf("starting the upstream MCP server: %w", err)
	}
	defer b.upstream.close()
	if b.stub, err = startStub(); err != nil {
		return sum, fmt.Errorf("starting the OpenAPI stub: %w", err)
	}
	defer b.stub.close()

	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return sum, err
	}
	b.logf("starting the gateway: %s run", bin)
	if b.gw, err = startGateway(ctx, bin, home, o.cpuprofile != ""); err != nil {
		return sum, err
	}
	defer b.gw.stop()
	sum.gatewayPID = b.gw.pid()
	if o.nice != 0 {
		if err := renice(b.gw.pid(), o.nice); err != nil {
			return sum, fmt.Errorf("-nice %d for the gateway: %w", o.nice, err)
		}
	}
	b.logf("  gateway pid %d at %s; upstream MCP at %s; OpenAPI stub at %s", b.gw.pid(), b.gw.base, b.upstream.url("/mcp"), b.stub.url(""))
	b.res.idleRSS, _ = rss(b.gw.pid())

	if err := b.register(ctx); err != nil {
		return sum, fmt.Errorf("registering the upstreams: %w\ngateway log:\n%s", err, b.gw.logTail(20))
	}
	b.res.registeredRSS, _ = rss(b.gw.pid())

	byID := map[string]*scenario{}
	for _, sc := range b.scenarios() {
		byID[sc.id] = sc
		if err := b.measureAll(ctx, sc); err != nil {
			return sum, err
		}
	}
	for _, pair := range [][2]string{{"2", "1"}, {"2h", "1h"}, {"6", "1"}} {
		if err := b.measurePair(ctx, byID[pair[0]], byID[pair[1]]); err != nil {
			return sum, err
		}
	}

	ghPath := o.github
	if ghPath == "" && rootErr == nil {
		ghPath = filepath.Join(root, "testdata", "npm", "node_modules", "@octokit", "openapi", "generated", "api.github.com.json")
	}
	switch doc, err := os.ReadFile(ghPath); {
	case !o.selected("5a") && !o.selected("5b") && !o.selected("5c"):
		b.res.githubSkipped = "not selected (-only)"
	case ghPath == "" || errors.Is(err, os.ErrNotExist):
		b.res.githubSkipped = fmt.Sprintf("skipped: GitHub's REST description is not at %s (run `cd testdata/npm && npm ci`, or pass -github)", ghPath)
		b.logf("scenario 5: %s", b.res.githubSkipped)
	case err != nil:
		return sum, err
	default:
		if err := b.importGitHub(ctx, doc); err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			sum.failed = append(sum.failed, "5a import: "+err.Error())
			b.res.githubSkipped = "failed: " + err.Error()
			b.logf("scenario 5a failed: %v", err)
			break
		}
		for _, sc := range b.githubScenarios() {
			byID[sc.id] = sc
			if err := b.measureAll(ctx, sc); err != nil {
				return sum, err
			}
		}
		if err := b.measurePair(ctx, byID["5b"], byID["3"]); err != nil {
			return sum, err
		}
	}

	b.res.machine.loadEnd = loadAverage()
	b.res.took = time.Since(b.res.started)

	sum.report = b.res.markdown()
	fmt.Fprint(stdout, sum.report)
	if o.out != "" {
		if err := writeSection(o.out, sum.report); err != nil {
			return sum, fmt.Errorf("writing %s: %w", o.out, err)
		}
		b.logf("wrote the results into %s", o.out)
	}
	return sum, nil
}

// measureAll measures sc at each client count and records the rows; a
// failure is recorded, an interruption ends the run.
func (b *bench) measureAll(ctx context.Context, sc *scenario) error {
	if !b.opts.selected(sc.id) {
		return nil
	}
	for i, n := range b.opts.clientCounts(sc) {
		var profiled chan error
		if b.opts.cpuprofile != "" && sc.id == b.opts.profileScenario && i == 0 {
			profiled = b.profile(ctx, sc, n)
		}
		m := measure(ctx, sc, n, b.opts.plan(), b.gw.pid())
		if profiled != nil {
			if err := <-profiled; err != nil {
				b.logf("  CPU profile of #%s failed: %v", sc.id, err)
			} else {
				b.logf("  CPU profile of the gateway during #%s ×%d written to %s (go tool pprof -top %s)", sc.id, n, b.opts.cpuprofile, b.opts.cpuprofile)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.res.rows = append(b.res.rows, m)
		if m.err != nil {
			b.sum.failed = append(b.sum.failed, fmt.Sprintf("#%s ×%d: %v", sc.id, n, m.err))
			b.logf("  #%-3s %-55s ×%d  FAILED: %v", sc.id, sc.title, n, m.err)
			continue
		}
		b.logf("  #%-3s %-55s ×%d  p50 %s ms  %6.0f req/s  (%d requests)", sc.id, sc.title, n, ms(m.quantile(0.5)), m.rps(), len(m.latencies))
	}
	return nil
}

// profile records the gateway's CPU during the measured phase of sc (it
// starts once the warm-up is over).
func (b *bench) profile(ctx context.Context, sc *scenario, n int) chan error {
	done := make(chan error, 1)
	p := b.opts.plan()
	wait, d := p.warmup, p.duration-200*time.Millisecond
	if p.countBased() {
		wait, d = 0, time.Second
	}
	go func() {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			done <- ctx.Err()
			return
		}
		done <- b.gw.cpuProfile(ctx, d, b.opts.cpuprofile)
	}()
	return done
}

// measurePair measures a and b at one client, alternating their requests,
// for a difference that holds while the machine's speed drifts.
func (b *bench) measurePair(ctx context.Context, a, c *scenario) error {
	if !b.opts.selected(a.id) || !b.opts.selected(c.id) {
		return nil
	}
	set := measureSet(ctx, []*scenario{a, c}, 1, b.opts.plan(), b.gw.pid())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.res.pairs = append(b.res.pairs, [2]*measurement{set[0], set[1]})
	if err := set[0].err; err != nil {
		b.sum.failed = append(b.sum.failed, fmt.Sprintf("#%s/#%s paired: %v", a.id, c.id, err))
		b.logf("  #%s − #%s, alternating, ×1  FAILED: %v", a.id, c.id, err)
		return nil
	}
	pa, pc := set[0].quantile(0.5), set[1].quantile(0.5)
	b.logf("  #%s − #%s, alternating, ×1: p50 %s − %s ms = %s", a.id, c.id, ms(pa), ms(pc), signedMS(pa-pc))
	return nil
}

// register adds the upstream MCP server and the pets stub through the API,
// each with an org connection, and looks up their tools' addresses.
func (b *bench) register(ctx context.Context) error {
	gw := b.gw
	if err := gw.call(ctx, http.MethodPost, "/api/mcp/servers", map[string]any{"name": "bench", "slug": "bench",
		"transport": "remote", "endpoint": b.upstream.url("/mcp"), "remoteTransport": "streamable-http"}, nil); err != nil {
		return err
	}
	if err := gw.call(ctx, http.MethodPost, "/api/connections", connection("bench"), nil); err != nil {
		return err
	}
	if err := gw.call(ctx, http.MethodPost, "/api/openapi/specs", map[string]any{
		"spec": map[string]string{"kind": "blob", "value": petsDescription}, "slug": "pets", "baseUrl": b.stub.url("")}, nil); err != nil {
		return err
	}
	if err := gw.call(ctx, http.MethodPost, "/api/connections", connection("pets"), nil); err != nil {
		return err
	}
	var err error
	if b.echo, err = b.toolAddress(ctx, "bench", "echo"); err != nil {
		return err
	}
	if b.work, err = b.toolAddress(ctx, "bench", "work"); err != nil {
		return err
	}
	b.getPet, err = b.toolAddress(ctx, "pets", "getPet")
	return err
}

func connection(integration string) map[string]any {
	return map[string]any{"owner": "org", "name": "main", "integration": integration, "template": "none"}
}

// toolAddress finds the address (tools.…) of integration's tool whose name
// is name or ends with "."+name.
func (b *bench) toolAddress(ctx context.Context, integration, name string) (string, error) {
	var tools []struct {
		Address string `json:"address"`
		Name    string `json:"name"`
	}
	if err := b.gw.call(ctx, http.MethodGet, "/api/tools?integration="+integration, nil, &tools); err != nil {
		return "", err
	}
	for _, t := range tools {
		if t.Name == name || strings.HasSuffix(t.Name, "."+name) {
			return t.Address, nil
		}
	}
	return "", fmt.Errorf("the gateway lists no tool %q for integration %q (%d tools)", name, integration, len(tools))
}

// scenarios are the rows measured before GitHub's description is imported
// (the catalog holds the benchmark's own few tools).
func (b *bench) scenarios() []*scenario {
	mcpURL := b.gw.base + "/mcp"
	return []*scenario{
		b.mcpScenario("1", "direct: upstream MCP `echo` (the floor)", b.upstream.url("/mcp"), false,
			"echo", map[string]any{"text": "hi"}, checkEcho),
		b.sdkScenario(),
		b.getScenario(),
		b.mcpScenario("2", "`execute` → upstream MCP `echo`", mcpURL, true,
			"execute", code(`return await %s({ text: "hi" })`, b.echo), checkToolOK(`"hi"`)),
		oneClient(b.mcpScenario("2h", "`execute` → OpenAPI stub `getPet`", mcpURL, true,
			"execute", code(`return await %s({ petId: "7" })`, b.getPet), checkToolOK(`"status":200`))),
		oneClient(b.mcpScenario("2p", "`execute` → 3 × `work` 20 ms in `Promise.all`", mcpURL, true,
			"execute", code(`const r = await Promise.all([1, 2, 3].map(() => %s({ ms: 20 }))); return r.every((x) => x.ok)`, b.work),
			checkResult(`true`))),
		b.mcpScenario("3", "`execute` `return 1+1`", mcpURL, true,
			"execute", code(`return 1+1`), checkResult(`2`)),
		b.mcpScenario("4", "`execute` search → describe → call", mcpURL, true,
			"execute", code(`const r = await tools.search({ query: "echo text" });
const hit = r.items.find((i) => i.path.endsWith(".echo"));
const d = await tools.describe.tool({ path: hit.path });
const fn = hit.path.split(".").reduce((o, k) => o[k], tools);
const out = await fn({ text: "hi" });
return { path: hit.path, described: typeof d.inputTypeScript === "string", ok: out.ok };`),
			checkToolOK(`"described":true`)),
		b.mcpScenario("6", "direct endpoint → upstream MCP `echo` (passthrough)", b.gw.base+"/mcp/direct/bench/org/main", true,
			"echo", map[string]any{"text": "hi"}, checkEcho),
	}
}

// githubScenarios run once GitHub's 1,223 tools are in the catalog.
func (b *bench) githubScenarios() []*scenario {
	mcpURL := b.gw.base + "/mcp"
	var once sync.Once
	search := b.mcpScenario("5b", "`execute` `tools.search` over GitHub's 1,223 tools", mcpURL, true,
		"execute", code(`const r = await tools.search({ query: "create issue" }); return r.items[0].path`),
		func(body []byte) error {
			v, err := executeResult(body)
			if err != nil {
				return err
			}
			var top string
			if err := json.Unmarshal(v, &top); err != nil || top == "" {
				return fmt.Errorf("the search returned no top hit: %s", v)
			}
			once.Do(func() { b.res.searchTop = top })
			return nil
		})
	scs := []*scenario{search}
	if b.ghGet != "" {
		scs = append(scs, oneClient(b.mcpScenario("5c", "`execute` → GitHub `issues.get` (on the stub)", mcpURL, true,
			"execute", code(`return await %s({ owner: "o", repo: "r", issue_number: 1 })`, b.ghGet), checkToolOK(`"status":200`))))
	}
	return scs
}

func oneClient(sc *scenario) *scenario { sc.oneClient = true; return sc }

func code(format string, args ...any) map[string]any {
	return map[string]any{"code": fmt.Sprintf(format, args...)}
}

// mcpScenario calls tool(args) on the MCP endpoint at url, one session per
// client, with the benchmark's own JSON-RPC client.
func (b *bench) mcpScenario(id, title, url string, viaGateway bool, tool string, args any, check func([]byte) error) *scenario {
	return &scenario{id: id, title: title, gateway: viaGateway, check: check,
		open: func(ctx context.Context) (*requester, error) {
			s, err := openSession(ctx, url)
			if err != nil {
				return nil, err
			}
			do, err := s.toolCall(tool, args)
			if err != nil {
				s.close()
				return nil, err
			}
			return &requester{do: do, close: s.close}, nil
		}}
}

// sdkScenario is the floor again through mcp-go's client, the SDK the
// gateway itself uses to reach upstream MCP servers (it negotiates the
// newest protocol version, as the gateway does).
func (b *bench) sdkScenario() *scenario {
	return oneClient(&scenario{id: "1s", title: "direct: upstream `echo` via mcp-go's client",
		check: func(body []byte) error {
			if string(body) != "hi" {
				return fmt.Errorf("echo returned %q", body)
			}
			return nil
		},
		open: func(ctx context.Context) (*requester, error) {
			hc := newHTTPClient()
			cl, err := client.NewStreamableHttpClient(b.upstream.url("/mcp"), transport.WithHTTPBasicClient(hc))
			if err != nil {
				return nil, err
			}
			if err := cl.Start(ctx); err != nil {
				return nil, err
			}
			if _, err := cl.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{
				ClientInfo: mcp.Implementation{Name: "executor-bench", Version: "1"}}}); err != nil {
				_ = cl.Close()
				return nil, err
			}
			req := mcp.CallToolRequest{}
			req.Params.Name = "echo"
			req.Params.Arguments = map[string]any{"text": "hi"}
			return &requester{
				do: func(ctx context.Context) ([]byte, error) {
					res, err := cl.CallTool(ctx, req)
					if err != nil {
						return nil, err
					}
					if len(res.Content) == 0 {
						return nil, errors.New("echo returned no content")
					}
					text, _ := res.Content[0].(mcp.TextContent)
					return []byte(text.Text), nil
				},
				close: func() { _ = cl.Close(); hc.CloseIdleConnections() },
			}, nil
		}})
}

// getScenario is the OpenAPI floor: a plain GET to the stub.
func (b *bench) getScenario() *scenario {
	url := b.stub.url("/pets/7")
	return oneClient(&scenario{id: "1h", title: "direct: HTTP GET to the OpenAPI stub",
		check: func(body []byte) error {
			if !bytes.Contains(body, []byte(`"Rex"`)) {
				return fmt.Errorf("the stub answered %s", clip(string(body), 200))
			}
			return nil
		},
		open: func(ctx context.Context) (*requester, error) {
			hc := newHTTPClient()
			return &requester{
				do: func(ctx context.Context) ([]byte, error) {
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
					if err != nil {
						return nil, err
					}
					resp, err := hc.Do(req)
					if err != nil {
						return nil, err
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("HTTP %d", resp.StatusCode)
					}
					return body, err
				},
				close: hc.CloseIdleConnections,
			}, nil
		}})
}

func checkEcho(body []byte) error {
	r, err := callToolResult(body)
	if err != nil {
		return err
	}
	if len(r.Content) == 0 || r.Content[0].Text != "hi" {
		return fmt.Errorf("echo returned %s", clip(string(body), 200))
	}
	return nil
}

// checkResult wants the execution to return exactly want (JSON).
func checkResult(want string) func([]byte) error {
	return func(body []byte) error {
		v, err := executeResult(body)
		if err != nil {
			return err
		}
		if string(bytes.TrimSpace(v)) != want {
			return fmt.Errorf("the execution returned %s, want %s", clip(string(v), 200), want)
		}
		return nil
	}
}

// checkToolOK wants the execution to return a tool result {ok: true, …}
// whose JSON contains marker.
func checkToolOK(marker string) func([]byte) error {
	return func(body []byte) error {
		v, err := executeResult(body)
		if err != nil {
			return err
		}
		var r struct {
			OK bool `json:"ok"`
		}
		if json.Unmarshal(v, &r) != nil || !r.OK || !bytes.Contains(v, []byte(marker)) {
			return fmt.Errorf("the execution returned %s", clip(string(v), 300))
		}
		return nil
	}
}

// importRun is one import of GitHub's description.
type importRun struct {
	slug    string
	took    time.Duration
	fromRSS int64 // resident before the import
	peakRSS int64
	tools   int
}

// importGitHub imports GitHub's REST description opts.imports times with
// fresh slugs, keeping the first ("github") and removing the others right
// after their import, then adds the connection that turns it into tools.
func (b *bench) importGitHub(ctx context.Context, doc []byte) error {
	b.res.githubBytes = len(doc)
	pid := b.gw.pid()
	for i := range b.opts.imports {
		slug := "github"
		if i > 0 {
			slug = fmt.Sprintf("github%d", i+1)
		}
		body, err := json.Marshal(map[string]any{"spec": map[string]string{"kind": "blob", "value": string(doc)},
			"slug": slug, "baseUrl": b.stub.url("")})
		if err != nil {
			return err
		}
		settle()
		resetPeak(pid)
		from, _ := rss(pid)
		var added struct {
			ToolCount int `json:"toolCount"`
		}
		t := time.Now()
		if err := b.gw.send(ctx, http.MethodPost, "/api/openapi/specs", body, &added); err != nil {
			return err
		}
		r := importRun{slug: slug, took: time.Since(t), tools: added.ToolCount, fromRSS: from}
		r.peakRSS, _ = peakRSS(pid)
		b.res.imports = append(b.res.imports, r)
		b.logf("  #5a import %d/%d (%s): %.3f s, %d tools, gateway peak RSS %s (from %s)", i+1, b.opts.imports, slug, r.took.Seconds(), r.tools, mb(r.peakRSS), mb(r.fromRSS))
		if i > 0 {
			if err := b.gw.call(ctx, http.MethodDelete, "/api/integrations/"+slug, nil, nil); err != nil {
				return err
			}
		}
	}
	resetPeak(pid)
	var conn struct {
		ToolCount int `json:"toolCount"`
	}
	t := time.Now()
	if err := b.gw.call(ctx, http.MethodPost, "/api/connections", connection("github"), &conn); err != nil {
		return err
	}
	b.res.connectionTook = time.Since(t)
	b.res.connectionPeak, _ = peakRSS(pid)
	b.res.githubTools = conn.ToolCount
	b.logf("  #5a connection github/org/main: %.3f s, %d tools, gateway peak RSS %s", b.res.connectionTook.Seconds(), conn.ToolCount, mb(b.res.connectionPeak))
	b.res.afterImportRSS, _ = rss(pid)
	if addr, err := b.toolAddress(ctx, "github", "issues.get"); err == nil {
		b.ghGet = addr
	} else {
		b.logf("  #5c skipped: %v", err)
	}
	return nil
}

// settle pauses between imports so that the previous one's background work
// (the catalog rebuild, the store's write-back) is not timed as the next.
func settle() { time.Sleep(300 * time.Millisecond) }

// gitRevision names the checkout the gateway was built from.
func gitRevision(ctx context.Context, root string) string {
	out, err := commandOutput(ctx, root, "git", "describe", "--always", "--dirty")
	if err != nil {
		return ""
	}
	return out
}
