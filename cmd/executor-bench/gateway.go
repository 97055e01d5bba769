package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// gateway is the executor binary running the embedded local default on a
// free loopback port, with its own HOME so it never touches the user's
// data. Stop kills its whole process group.
type gateway struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	admin   string // Caddy's admin API (http://localhost:port), "" when off
	logPath string
	exited  chan struct{} // closed once the process has been waited for
	waitErr error
	api     *http.Client
}

// buildGateway compiles ./cmd/executor of the module at root into dir.
func buildGateway(ctx context.Context, root, dir string, progress io.Writer) (string, error) {
	bin := filepath.Join(dir, "executor")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/executor")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = progress, progress
	groupCommand(cmd)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the gateway (go build ./cmd/executor in %s): %w", root, err)
	}
	return bin, nil
}

// moduleRoot is the folder of the go.mod that holds the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the repository: run from the executor checkout, or pass -binary")
	}
	return filepath.Dir(mod), nil
}

// startGateway runs bin with HOME=home on a free port and waits until the
// API answers. With admin, Caddy's admin API (which serves /debug/pprof)
// listens on another free loopback port.
func startGateway(ctx context.Context, bin, home string, admin bool) (*gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminAddr := "off"
	if admin {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		adminAddr = fmt.Sprintf("localhost:%d", p)
	}
	logPath := filepath.Join(home, "gateway.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run")
	cmd.Dir = home // no ./Caddyfile there: the embedded local default
	cmd.Env = []string{
		"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + home,
		"XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "XDG_CACHE_HOME=",
		"EXECUTOR_HOST=127.0.0.1", "EXECUTOR_PORT=" + strconv.Itoa(port), "EXECUTOR_ADMIN=" + adminAddr,
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	groupCommand(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	g := &gateway{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: logPath,
		exited: make(chan struct{}), api: &http.Client{Timeout: 5 * time.Minute}}
	if admin {
		g.admin = "http://" + adminAddr
	}
	go func() {
		g.waitErr = cmd.Wait()
		logFile.Close()
		close(g.exited)
	}()
	if err := g.waitReady(ctx, 60*time.Second); err != nil {
		g.stop()
		return nil, err
	}
	// Caddy listens with SO_REUSEPORT: a second process on the same port
	// would share the traffic silently, so make sure ours is alone.
	if n, err := listeners(port); err == nil && n > 1 {
		g.stop()
		return nil, fmt.Errorf("another process also listens on 127.0.0.1:%d; stop it and run again", port)
	}
	return g, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (g *gateway) pid() int { return g.cmd.Process.Pid }

func (g *gateway) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-g.exited:
			return fmt.Errorf("the gateway exited during start (%v); its log:\n%s", g.waitErr, g.logTail(30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		var me map[string]any
		if err := g.call(ctx, http.MethodGet, "/api/account/me", nil, &me); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway did not answer on %s within %s; its log:\n%s", g.base, limit, g.logTail(30))
		}
	}
}

// stop ends the gateway's process group: SIGTERM, then SIGKILL after a grace
// period. It is safe to call more than once.
func (g *gateway) stop() {
	select {
	case <-g.exited:
		return
	default:
	}
	_ = signalGroup(g.cmd, false)
	select {
	case <-g.exited:
	case <-time.After(5 * time.Second):
		_ = signalGroup(g.cmd, true)
		<-g.exited
	}
}

func (g *gateway) logTail(n int) string {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// call sends a JSON request to the gateway's API and decodes the answer
// into out; a non-2xx answer is an error carrying the API's message.
func (g *gateway) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	return g.send(ctx, method, path, body, out)
}

// send is call with a body already encoded, so that timing it measures the
// gateway and not the encoding.
func (g *gateway) send(ctx context.Context, method, path string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, clip(strings.TrimSpace(string(b)), 400))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %v", method, path, err)
		}
	}
	return nil
}

// cpuProfile records the gateway's CPU for d through Caddy's admin API
// (net/http/pprof) and writes the profile to path.
func (g *gateway) cpuProfile(ctx context.Context, d time.Duration, path string) error {
	if g.admin == "" {
		return fmt.Errorf("the admin API is off")
	}
	secs := max(1, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", g.admin, secs), nil)
	if err != nil {
		return err
	}
	resp, err := g.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/profile: HTTP %d: %s", resp.StatusCode, clip(string(b), 200))
	}
	return os.WriteFile(path, b, 0o644)
}

// memory figures of a process, from /proc/<pid>/status (Linux only).

// peakRSS is VmHWM: the most resident memory since start or since the
// last resetPeak.
func peakRSS(pid int) (int64, error) { return procStatusKB(pid, "VmHWM:") }

// rss is VmRSS, the resident memory now.
func rss(pid int) (int64, error) { return procStatusKB(pid, "VmRSS:") }

// resetPeak sets VmHWM back to the current RSS (Linux ≥ 4.0, own
// processes), so each scenario reports its own peak.
func resetPeak(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// processCPU is the user+system CPU time pid has used, from
// /proc/<pid>/stat (in USER_HZ ticks, 100 per second on Linux).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	const tick = 10 * time.Millisecond
	return time.Duration(utime+stime) * tick, nil
}

// listeners counts the IPv4 TCP sockets listening on port (Linux only).
func listeners(port int) (int, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	want := fmt.Sprintf(":%04X", port)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			n++
		}
	}
	return n, nil
}
