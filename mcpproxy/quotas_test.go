package mcpproxy

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// security.md K13: connections per principal and per organization are
// bounded.
func TestConnectionsAreBounded(t *testing.T) {
	personal, org := maxPersonalConnections, maxOrgConnections
	maxPersonalConnections, maxOrgConnections = 2, 3
	t.Cleanup(func() { maxPersonalConnections, maxOrgConnections = personal, org })
	tg := newTestGateway(t, Config{})
	up := newPetsUpstream(t)
	addPets(t, tg, up.URL)
	add := func(principal, owner, name string) (int, string) {
		return tg.api(t, principal, "POST", "/api/connections", map[string]any{"owner": owner, "name": name, "integration": "pets", "template": "none"}, nil)
	}
	for _, tt := range []struct {
		principal, owner, name string
		code                   int
	}{
		{"alice", "user", "a1", 200}, {"alice", "user", "a2", 200}, {"alice", "user", "a3", 409},
		{"bob", "user", "b1", 200}, // someone else's count
		// addPets made tools.pets.org.main.
		{"alice", "org", "o1", 200}, {"bob", "org", "o2", 200}, {"alice", "org", "o3", 409},
	} {
		code, body := add(tt.principal, tt.owner, tt.name)
		if code != tt.code || (code == 409 && !strings.Contains(body, "the most there may be")) {
			t.Fatalf("%s adding %s connection %s: %d %s", tt.principal, tt.owner, tt.name, code, body)
		}
	}
	// Removing one makes room.
	if code, body := tg.api(t, "alice", "DELETE", "/api/connections/user/pets/a1", nil, nil); code != 200 {
		t.Fatalf("remove: %d %s", code, body)
	}
	if code, body := add("alice", "user", "a3"); code != 200 {
		t.Fatalf("after removing one: %d %s", code, body)
	}
}

// lockedBuffer is a bytes.Buffer for a logger that goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// security.md K13: a database that grows large is reported, once per
// doubling.
func TestALargeDatabaseIsReported(t *testing.T) {
	var logs lockedBuffer
	tg := newTestGateway(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	size := tg.storageBytes()
	if size <= 0 {
		t.Fatalf("storage size %d", size)
	}
	var cfg struct {
		StorageBytes int64 `json:"storageBytes"`
	}
	tg.api(t, "alice", "GET", "/api/config", nil, &cfg)
	if cfg.StorageBytes != size {
		t.Fatalf("/api/config storageBytes = %d, want %d", cfg.StorageBytes, size)
	}
	alarm := storageAlarm
	storageAlarm = size / 2
	t.Cleanup(func() { storageAlarm = alarm })
	tg.checkStorage()
	tg.checkStorage()
	if n := strings.Count(logs.String(), "the database file is large"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

// security.md H14: executions of one principal running at once are capped;
// a finished one frees its place.
func TestRunningExecutionsAreCappedPerPrincipal(t *testing.T) {
	tg := newTestGateway(t, Config{maxRunning: 2})
	tg.connect(t, "slow", OwnerOrg, "", "main", tool("sleep", "Sleep", `"ms":{"type":"number"}`))
	started := make(chan toolResult, 2)
	for range 2 {
		c := tg.client(t, "alice")
		c.initialize()
		go func() { started <- c.execute(`return (await tools.slow.org.main.sleep({ ms: 1500 })).ok`) }()
	}
	waitFor(t, func() bool {
		tg.running.mu.Lock()
		defer tg.running.mu.Unlock()
		return tg.running.n["alice"] == 2
	})
	alice, bob := tg.client(t, "alice"), tg.client(t, "bob")
	alice.initialize()
	bob.initialize()
	if r := alice.execute("return 1"); !r.IsError || !strings.Contains(r.text(), "2 of your executions are running already") {
		t.Fatalf("a third execution of alice: %s", r.text())
	}
	if r := bob.execute("return 2"); r.IsError || r.text() != "2" {
		t.Fatalf("bob meanwhile: %s", r.text())
	}
	for range 2 {
		if r := <-started; r.text() != "true" {
			t.Fatalf("a slow execution: %s", r.text())
		}
	}
	if r := alice.execute("return 3"); r.text() != "3" {
		t.Fatalf("alice after hers finished: %s", r.text())
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}
