//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests build the gateway once (seconds with a warm build cache).
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// gatewayBinary builds ./cmd/executor and this harness once per test run.
func gatewayBinary(t *testing.T) (gateway, harness string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the gateway and drives it over HTTP; skipped with -short")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "executor-bench-test-"); buildErr != nil {
			return
		}
		root, err := moduleRoot(context.Background())
		if err != nil {
			buildErr = err
			return
		}
		if _, buildErr = buildGateway(context.Background(), root, buildDir, os.Stderr); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, "executor-bench"), ".")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "executor"), filepath.Join(buildDir, "executor-bench")
}

func TestShortRunCompletesEveryScenarioAndCleansUp(t *testing.T) {
	bin, _ := gatewayBinary(t)
	opts, err := parseFlags([]string{"-short", "-clients", "1,2", "-binary", bin}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out, progress bytes.Buffer
	sum, err := run(context.Background(), opts, &out, &progress)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if len(sum.failed) > 0 {
		t.Fatalf("failed scenarios: %v\n%s", sum.failed, progress.String())
	}
	report := out.String()
	for _, id := range []string{"1", "1s", "1h", "2", "2h", "2p", "3", "4", "6"} {
		if !strings.Contains(report, "\n| "+id+" | ") {
			t.Errorf("the table has no row #%s:\n%s", id, report)
		}
	}
	if strings.Contains(report, "GitHub's REST description is not at") {
		t.Log("GitHub's description is missing (run npm ci in testdata/npm): scenario 5 skipped")
	} else {
		for _, id := range []string{"5a", "5b", "5c"} {
			if !strings.Contains(report, "\n| "+id+" | ") {
				t.Errorf("the table has no row #%s:\n%s", id, report)
			}
		}
	}
	assertGone(t, sum.gatewayPID, sum.tmp)
}

// An interrupted run (Ctrl-C) stops the gateway's process group and
// removes its temporary folder before it exits.
func TestInterruptStopsTheGatewayAndRemovesTheTemporaryFolder(t *testing.T) {
	bin, harness := gatewayBinary(t)
	cmd := exec.Command(harness, "-short", "-binary", bin)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	tmpRE := regexp.MustCompile(`temporary folder (\S+)`)
	pidRE := regexp.MustCompile(`gateway pid (\d+)`)
	var tmp string
	var pid int
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		log.WriteString(line + "\n")
		if m := tmpRE.FindStringSubmatch(line); m != nil {
			tmp = m[1]
		}
		if m := pidRE.FindStringSubmatch(line); m != nil {
			pid, _ = strconv.Atoi(m[1])
			break
		}
	}
	if pid == 0 || tmp == "" {
		t.Fatalf("the harness never reported its gateway:\n%s", log.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(&log, stderr) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the harness did not exit within 30 s of SIGINT:\n%s", log.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("exit after SIGINT = %v, want status 130", err)
	}
	assertGone(t, pid, tmp)
}

func assertGone(t *testing.T, pid int, tmp string) {
	t.Helper()
	if pid == 0 {
		t.Fatal("no gateway pid recorded")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("gateway pid %d still exists after the run (kill -0: %v)", pid, err)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary folder %s still exists after the run (%v)", tmp, err)
	}
}
