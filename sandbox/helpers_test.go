package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCacheDir is shared by the tests of one `go test` process so that only
// the first Engine compiles the module.
var testCacheDir = filepath.Join(os.TempDir(), "sandbox-test-qjs-cache")

func newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = testCacheDir
	}
	e, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

var (
	sharedOnce   sync.Once
	sharedEngine *Engine
)

// engine returns an Engine shared by tests that do not care about its
// options (closed when the test binary exits).
func engine(t testing.TB) *Engine {
	t.Helper()
	sharedOnce.Do(func() {
		e, err := New(Options{CacheDir: testCacheDir})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		sharedEngine = e
	})
	return sharedEngine
}

func runCode(t testing.TB, code string) Result {
	t.Helper()
	return engine(t).Run(context.Background(), Request{Code: code, Limits: Limits{Timeout: 10 * time.Second}})
}

// wantValue fails unless res completed with a value equal (as JSON) to want.
func wantValue(t testing.TB, res Result, want string) {
	t.Helper()
	if res.Status != StatusCompleted {
		t.Fatalf("status %s (%s): %s; want completed with %s", res.Status, res.ErrorKind, res.Error, want)
	}
	if !jsonEqual(res.Value, json.RawMessage(want)) {
		t.Fatalf("value %s, want %s", res.Value, want)
	}
}

// wantError fails unless res failed with kind and an error containing msg.
func wantError(t testing.TB, res Result, kind ErrorKind, msg string) {
	t.Helper()
	if res.Status != StatusFailed || res.ErrorKind != kind || !strings.Contains(res.Error, msg) {
		t.Fatalf("got %s/%s %q (value %s); want failed/%s containing %q", res.Status, res.ErrorKind, res.Error, res.Value, kind, msg)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// echoBridge answers every call with {"path":…,"args":…} after delay.
func echoBridge(delay time.Duration) Bridge {
	return BridgeFunc(func(ctx context.Context, c Call) (json.RawMessage, error) {
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return json.RawMessage(fmt.Sprintf(`{"path":%q,"args":%s}`, c.Path, c.Args)), nil
	})
}
