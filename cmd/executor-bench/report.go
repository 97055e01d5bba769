package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// results is everything the report shows.
type results struct {
	opts     options
	started  time.Time
	took     time.Duration
	machine  machine
	revision string

	idleRSS, registeredRSS, afterImportRSS int64

	rows  []*measurement
	pairs [][2]*measurement // measured alternately at one client

	imports        []importRun
	connectionTook time.Duration
	connectionPeak int64
	githubTools    int
	githubBytes    int
	githubSkipped  string // why scenario 5 did not run
	searchTop      string

	goBench goBenchResult
}

// machine describes where the run happened.
type machine struct {
	cpus               int
	cpuModel           string
	memTotal           int64
	kernel             string
	goVersion          string
	loadStart, loadEnd float64
}

func describeMachine(ctx context.Context) machine {
	m := machine{cpus: runtime.NumCPU(), goVersion: runtime.Version(), loadStart: loadAverage()}
	if out, err := commandOutput(ctx, "", "go", "version"); err == nil {
		m.goVersion = strings.TrimPrefix(out, "go version ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.Join(strings.Fields(v), " ")
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				m.memTotal = kb * 1024
				break
			}
		}
		f.Close()
	}
	return m
}

// loadAverage is the one-minute load average, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

func commandOutput(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// goBenchResult is mcpproxy's in-process search benchmark.
type goBenchResult struct {
	ran     bool
	nsPerOp float64
	line    string
	err     error
}

func goSearchBench(ctx context.Context, root string, progress io.Writer) goBenchResult {
	cmd := exec.CommandContext(ctx, "go", "test", "./mcpproxy", "-run", "^$", "-bench", "SearchOver1000Tools", "-count", "1")
	cmd.Dir = root
	groupCommand(cmd)
	out, err := cmd.CombinedOutput()
	r := goBenchResult{ran: true}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "BenchmarkSearchOver1000Tools") {
			continue
		}
		f := strings.Fields(line)
		for i := 1; i < len(f); i++ {
			if f[i] == "ns/op" {
				r.nsPerOp, _ = strconv.ParseFloat(f[i-1], 64)
				r.line = strings.Join(f, " ")
			}
		}
	}
	if r.line == "" {
		if err == nil {
			err = fmt.Errorf("no benchmark line in its output")
		}
		r.err = fmt.Errorf("%v: %s", err, clip(strings.TrimSpace(string(out)), 400))
		fmt.Fprintf(progress, "  go test -bench failed: %v\n", r.err)
	} else {
		fmt.Fprintf(progress, "  %s\n", r.line)
	}
	return r
}

// ---- formatting ----

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// mb is bytes in megabytes (10⁶), the unit of the issues' targets.
func mb(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}

func signedMS(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d) + " ms"
	}
	return "+" + ms(d) + " ms"
}

// row finds the measurement of scenario id at n clients.
func (r *results) row(id string, n int) *measurement {
	for _, m := range r.rows {
		if m.sc.id == id && m.clients == n && m.ok() {
			return m
		}
	}
	return nil
}

// pairDiff is p50(a) − p50(b) measured alternately at one client.
func (r *results) pairDiff(a, b string) (time.Duration, bool) {
	for _, p := range r.pairs {
		if p[0].sc.id == a && p[1].sc.id == b && p[0].ok() && p[1].ok() {
			return p[0].quantile(0.5) - p[1].quantile(0.5), true
		}
	}
	return 0, false
}

// bestDiff is the paired difference when there is one, else the
// difference of the rows at one client; how says which.
func (r *results) bestDiff(a, b string) (d time.Duration, how string, ok bool) {
	if d, ok := r.pairDiff(a, b); ok {
		return d, fmt.Sprintf("#%s − #%s, alternating requests, 1 client", a, b), true
	}
	if d, ok := r.diff(a, b, 1); ok {
		return d, fmt.Sprintf("#%s − #%s, 1 client", a, b), true
	}
	return 0, "", false
}

// diff is p50(a) − p50(b) at n clients.
func (r *results) diff(a, b string, n int) (time.Duration, bool) {
	ma, mb := r.row(a, n), r.row(b, n)
	if ma == nil || mb == nil {
		return 0, false
	}
	return ma.quantile(0.5) - mb.quantile(0.5), true
}

// importStats are the median and slowest import and the highest peak RSS
// seen during one.
func (r *results) importStats() (median, worst time.Duration, peak int64) {
	took := make([]time.Duration, len(r.imports))
	for i, x := range r.imports {
		took[i] = x.took
		peak = max(peak, x.peakRSS)
	}
	slices.Sort(took)
	return took[len(took)/2], took[len(took)-1], peak
}

func (r *results) command() string {
	s := "go run ./cmd/executor-bench"
	if len(r.opts.args) > 0 {
		s += " " + strings.Join(r.opts.args, " ")
	}
	return s
}

// markdown is the report: the run, the machine, the table, what the
// differences say, and the issues' targets.
func (r *results) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.machine

	mode := fmt.Sprintf("full: %s measured after %s of warm-up per row", r.opts.duration, r.opts.warmup)
	if r.opts.short {
		mode = fmt.Sprintf("smoke: %d requests per client after %d of warm-up; checks that every scenario completes, the figures are not measurements",
			r.opts.plan().iterations, r.opts.plan().warmupN)
	}
	p("### Run of %s\n\n", r.started.Format("2006-01-02 15:04 UTC"))
	p("- Command: `%s` (%s; clients %s); took %s.\n", r.command(), mode, joinInts(r.opts.clients), r.took.Round(time.Second))
	rev := r.revision
	if rev == "" {
		rev = "unknown revision"
	}
	p("- Gateway: `executor run` (%s) on the embedded local default, temporary HOME, 127.0.0.1, no authentication; "+
		"idle RSS %s after start, %s with the benchmark's integrations.\n", rev, mb(r.idleRSS), mb(r.registeredRSS))
	p("- Machine: %d CPUs (%s), %s RAM, %s, %s. Load average (1 min): %.2f at start, %.2f at end",
		m.cpus, orUnknown(m.cpuModel), gib(m.memTotal), orUnknown(m.kernel), m.goVersion, m.loadStart, m.loadEnd)
	if max(m.loadStart, m.loadEnd) >= 0.5 {
		p(" — the machine was shared with other work during the run")
	}
	p(".\n")
	if r.opts.nice != 0 {
		p("- The harness and the gateway ran at nice %d, ahead of the other work on the machine.\n", r.opts.nice)
	}
	p("- The clients, the upstream MCP server (mcp-go, streamable HTTP) and the OpenAPI stub run inside the harness, " +
		"on the same cores as the gateway. Latency is per request at the client (HTTP round trip, keep-alive, one MCP session per client); " +
		"req/s is completed requests over the measured wall time; gateway CPU is its user+system time (/proc/<pid>/stat) in the measured phase " +
		"divided by the requests; peak RSS is the gateway's VmHWM, reset before each row.\n\n")

	p("| # | scenario | clients | p50 ms | p90 ms | p99 ms | req/s | p50 vs #1 | gateway CPU ms/req | gateway peak RSS |\n")
	p("|---|---|--:|--:|--:|--:|--:|---|--:|--:|\n")
	importRow := func() {
		switch {
		case r.githubSkipped != "":
			p("| 5 | GitHub's REST description | — | %s | | | | | | |\n", cell(r.githubSkipped))
		case len(r.imports) > 0:
			med, worst, peak := r.importStats()
			p("| 5a | import of GitHub's REST description (POST /api/openapi/specs, %.1f MB, %d×) | — | %s (median) | | %s (max) | | | | %s (first import; max %s) |\n",
				float64(r.githubBytes)/1e6, len(r.imports), ms(med), ms(worst), mb(r.imports[0].peakRSS), mb(peak))
		}
	}
	imported := false
	for _, x := range r.rows {
		if strings.HasPrefix(x.sc.id, "5") && !imported {
			importRow()
			imported = true
		}
		if x.err != nil {
			p("| %s | %s | %d | failed: %s | | | | | | |\n", x.sc.id, x.sc.title, x.clients, cell(x.err.Error()))
			continue
		}
		vs, peak, cpu := "—", "—", "—"
		if x.sc.gateway {
			if c := x.cpuPerRequest(); c > 0 {
				cpu = ms(c)
			}
			if base := r.row("1", x.clients); base != nil {
				a, c := x.quantile(0.5), base.quantile(0.5)
				vs = fmt.Sprintf("×%.1f (%s)", float64(a)/float64(c), signedMS(a-c))
			}
			peak = mb(x.peakRSS)
		}
		p("| %s | %s | %d | %s | %s | %s | %.0f | %s | %s | %s |\n", x.sc.id, x.sc.title, x.clients,
			ms(x.quantile(0.5)), ms(x.quantile(0.9)), ms(x.quantile(0.99)), x.rps(), vs, cpu, peak)
	}
	if !imported {
		importRow()
	}
	p("\n")

	if len(r.imports) > 0 {
		p("Scenario 5 detail: ")
		for i, x := range r.imports {
			if i > 0 {
				p("; ")
			}
			p("import %d (`%s`) %.3f s, %d tools, peak RSS %s (from %s before it)", i+1, x.slug, x.took.Seconds(), x.tools, mb(x.peakRSS), mb(x.fromRSS))
		}
		p(". Imports after the first use a fresh slug and are removed again, so the catalog holds GitHub once. "+
			"Adding the connection that turns the description into tools took %.3f s (%d tools, peak RSS %s); "+
			"RSS afterwards %s. `tools.search({query: \"create issue\"})` ranks `%s` first.\n\n",
			r.connectionTook.Seconds(), r.githubTools, mb(r.connectionPeak), mb(r.afterImportRSS), r.searchTop)
	}

	p("What the differences say (p50, same run). \"Alternating\" measures both rows again at one client in one loop, " +
		"request for request, so that a drift in the machine's speed hits both alike; the other columns subtract the rows above.\n\n")
	p("| cost | from rows | alternating, 1 client |")
	for _, n := range r.opts.clients {
		p(" %d client%s |", n, plural(n))
	}
	p("\n|---|---|--:|")
	for range r.opts.clients {
		p("--:|")
	}
	p("\n")
	derived := []struct{ what, a, b string }{
		{"one upstream MCP call made through `execute`", "2", "1"},
		{"the same, against the mcp-go client floor the gateway itself pays", "2", "1s"},
		{"one OpenAPI call made through `execute`", "2h", "1h"},
		{"one upstream MCP call through the direct endpoint (no sandbox)", "6", "1"},
		{"an `execute` round trip with no tool call, over a direct MCP call", "3", "1"},
		{"search + describe added to a call", "4", "2"},
		{"`tools.search` over GitHub's 1,223 tools, over `return 1+1`", "5b", "3"},
	}
	for _, d := range derived {
		line := fmt.Sprintf("| %s | #%s − #%s |", d.what, d.a, d.b)
		any := false
		if v, ok := r.pairDiff(d.a, d.b); ok {
			line += " " + signedMS(v) + " |"
			any = true
		} else {
			line += " — |"
		}
		for _, n := range r.opts.clients {
			if v, ok := r.diff(d.a, d.b, n); ok {
				line += " " + signedMS(v) + " |"
				any = true
			} else {
				line += " — |"
			}
		}
		if any {
			p("%s\n", line)
		}
	}
	p("\n")
	r.targets(p)
	return b.String()
}

// targets prints each issue's performance target next to the measurement.
func (r *results) targets(p func(string, ...any)) {
	type target struct {
		issue, what, measured, ts string
		met                       int // 1 met, 0 not met, -1 not measured
	}
	verdict := func(ok bool) int {
		if ok {
			return 1
		}
		return 0
	}
	var ts []target
	if x := r.row("3", 1); x != nil {
		ts = append(ts, target{"3", "`execute` `return 1+1` p50 ≤ 2.5 ms at one client", ms(x.quantile(0.5)) + " ms", "11.2 ms",
			verdict(x.quantile(0.5) <= 2500*time.Microsecond)})
	} else {
		ts = append(ts, target{"3", "`execute` `return 1+1` p50 ≤ 2.5 ms at one client", "not measured", "11.2 ms", -1})
	}
	if x := r.row("3", 8); x != nil {
		ts = append(ts, target{"3", "≥ 250 executions/s with 8 clients", fmt.Sprintf("%.0f/s", x.rps()), "—", verdict(x.rps() >= 250)})
	} else {
		ts = append(ts, target{"3", "≥ 250 executions/s with 8 clients", "not measured (needs -clients with 8)", "—", -1})
	}
	oneCall := func(issue, what string) target {
		if d, how, ok := r.bestDiff("2", "1"); ok {
			return target{issue, what, signedMS(d) + " (" + how + ")", "—", verdict(d <= time.Millisecond)}
		}
		return target{issue, what, "not measured", "—", -1}
	}
	ts = append(ts, oneCall("3", "an execution making one tool call adds ≤ 1 ms to the tool's own latency (p50)"))
	// Issue 3's figure is the package benchmark over its 1,000-tool fixture;
	// the end-to-end search over GitHub's tools is issue 5's.
	search := "not measured (-gobench off)"
	searchMet := -1
	if r.goBench.ran && r.goBench.err == nil {
		search = fmt.Sprintf("%.3f ms per search in process (`go test ./mcpproxy -bench SearchOver1000Tools`: %s ns/op; a mean, not a p50)",
			r.goBench.nsPerOp/1e6, strconv.FormatFloat(r.goBench.nsPerOp, 'f', 0, 64))
		searchMet = verdict(r.goBench.nsPerOp <= 2e6)
	} else if r.goBench.err != nil {
		search = "go test -bench failed: " + cell(clip(r.goBench.err.Error(), 200))
	}
	ts = append(ts, target{"3", "`tools.search` over 1,000 tools ≤ 2 ms p50", search, "—", searchMet})
	if len(r.imports) > 0 {
		med, worst, peak := r.importStats()
		ts = append(ts, target{"5", "GitHub's REST description imports in ≤ 1 s", fmt.Sprintf("%.3f s (median of %d; max %.3f s)", med.Seconds(), len(r.imports), worst.Seconds()),
			"1.07 s", verdict(med <= time.Second)})
		first := r.imports[0].peakRSS
		ts = append(ts, target{"5", "… with peak RSS ≤ 250 MB", fmt.Sprintf("%s (gateway VmHWM during the first import, from %s idle; %s at most over the %d imports)",
			mb(first), mb(r.registeredRSS), mb(peak), len(r.imports)), "544 MB", verdict(first > 0 && first <= 250e6)})
	} else {
		ts = append(ts, target{"5", "GitHub's REST description imports in ≤ 1 s, peak RSS ≤ 250 MB", "not measured: " + cell(r.githubSkipped), "1.07 s, 544 MB", -1})
	}
	if d, how, ok := r.bestDiff("5b", "3"); ok {
		ts = append(ts, target{"5", "search over its 1,223 tools ≤ 2 ms p50", signedMS(d) + " (" + how + ")", "68 ms", verdict(d <= 2*time.Millisecond)})
	} else {
		ts = append(ts, target{"5", "search over its 1,223 tools ≤ 2 ms p50", "not measured", "68 ms", -1})
	}
	ts = append(ts, oneCall("5", "a code-mode call to an upstream MCP tool costs ≤ 1 ms more than calling it directly (p50)"))

	p("Targets (issues 3 and 5):\n\n")
	p("| issue | target | measured | TypeScript product | verdict |\n|---|---|---|---|---|\n")
	for _, t := range ts {
		v := "not measured"
		switch {
		case r.opts.short && t.met >= 0:
			v = "smoke run, no verdict"
		case t.met == 1:
			v = "met"
		case t.met == 0:
			v = "**not met**"
		}
		p("| %s | %s | %s | %s | %s |\n", t.issue, t.what, t.measured, t.ts, v)
	}
	p("\n")
}

func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func gib(b int64) string {
	if b <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// Markers around the section of BENCHMARKS.md that -out rewrites.
const (
	sectionBegin = "<!-- executor-bench:begin (generated by go run ./cmd/executor-bench -out; edits inside are replaced) -->"
	sectionEnd   = "<!-- executor-bench:end -->"
)

// writeSection puts report between the markers of the file at path,
// creating the file, or appending the markers, when they are missing.
func writeSection(path, report string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	section := sectionBegin + "\n\n" + report + sectionEnd + "\n"
	text := string(old)
	i := strings.Index(text, sectionBegin)
	j := strings.Index(text, sectionEnd)
	switch {
	case i >= 0 && j > i:
		text = text[:i] + section + strings.TrimPrefix(text[j+len(sectionEnd):], "\n")
	case text == "":
		text = section
	default:
		text = strings.TrimRight(text, "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
