//go:build unix

package tsschema

import (
	"encoding/json"
	"runtime/debug"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used. Timing by it, and not by
// the clock, keeps the test meaningful on a machine busy with other work.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

func TestHostileSchemasRenderInWellUnder50ms(t *testing.T) {
	limit, runs := 35*time.Millisecond, 5
	if raceEnabled() {
		limit, runs = 20*limit, 1 // the race detector slows everything down about tenfold
	}
	for _, tc := range hostileSchemas() {
		t.Run(tc.name, func(t *testing.T) {
			schema := json.RawMessage(tc.schema)
			best, bestWall := time.Hour, time.Hour
			for range runs { // the cheapest run shows the cost, not the machine's load
				start, wall := cpuTime(t), time.Now()
				NewRenderer(nil).Type(schema)
				best, bestWall = min(best, cpuTime(t)-start), min(bestWall, time.Since(wall))
			}
			t.Logf("%d bytes of schema: %v of CPU, %v of wall time", len(schema), best, bestWall)
			if best > limit {
				t.Errorf("took %v of CPU, want under %v", best, limit)
			}
		})
	}
}
