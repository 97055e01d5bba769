package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The crash test runs this test binary again as a writer process (selected by
// crashWriterEnv) and kills it with SIGKILL at random moments. SIGKILL does not
// lose the page cache, so this proves process-crash atomicity (no torn
// transaction, no lost acknowledged commit), not durability across power loss,
// which rests on bbolt's fdatasync and the file system.
const (
	crashWriterEnv = "STORE_CRASH_WRITER_DB"
	crashRoundEnv  = "STORE_CRASH_WRITER_ROUND"
)

// crashValue is the value the writer stores under key: 100 B to 20 KB (so
// some values take overflow pages), derived from the key so the parent can
// check it byte for byte.
func crashValue(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	n := 100 + int(sum[0])<<8%20_000 + int(sum[1])
	return bytes.Repeat(sum[:], n/len(sum)+1)[:n]
}

// TestCrashWriter is the writer process of
// TestAKilledWriterLosesNoAcknowledgedUpdate; it skips when run directly.
func TestCrashWriter(t *testing.T) {
	path := os.Getenv(crashWriterEnv)
	if path == "" {
		t.Skip("helper process of TestAKilledWriterLosesNoAcknowledgedUpdate")
	}
	round := os.Getenv(crashRoundEnv)
	db, err := Open(path, Options{SecretKey: testKey, Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		key := fmt.Sprintf("r%s-%06d", round, i)
		err := db.Update(func(tx Tx) error {
			if err := tx.Put(Integrations, key, crashValue(key)); err != nil {
				return err
			}
			if err := tx.PutSecret(Connections, key, "token", []byte(key)); err != nil {
				return err
			}
			if err := tx.PutJSON(Tools, "last", key); err != nil {
				return err
			}
			// Churn: replace and delete large scratch values so that pages
			// are freed and reused while the process may die.
			if err := tx.Put(Tools, fmt.Sprintf("scratch/%d", i%5), make([]byte, 1000+i%7*3000)); err != nil {
				return err
			}
			return tx.Delete(Tools, fmt.Sprintf("scratch/%d", (i+2)%5))
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "writer:", err)
			os.Exit(3)
		}
		// Acknowledge only after Update returned: from here on the write
		// must survive.
		fmt.Fprintf(out, "ack %s\n", key)
		_ = out.Flush()
	}
}

func TestAKilledWriterLosesNoAcknowledgedUpdate(t *testing.T) {
	rng := killerTest(t, crashWriterEnv, 0)
	path := filepath.Join(t.TempDir(), "executor.db")

	// At least 20 kills; more while time allows (the whole test stays under
	// about 12 s with the race detector on two cores).
	const minRounds, maxRounds = 20, 100
	budget := time.Now().Add(9 * time.Second)
	acked := map[string]bool{}
	midLoopKills := 0 // kills that landed after the writer's first commit
	round := 0
	for ; round < maxRounds && (round < minRounds || time.Now().Before(budget)); round++ {
		cmd, stdout, stderr := startHelper(t, "TestCrashWriter", crashWriterEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
		lines := make(chan string, 1<<16)
		go func() {
			defer close(lines)
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil { // a line without its newline was not acknowledged
					return
				}
				lines <- strings.TrimSuffix(line, "\n")
			}
		}()

		// Most rounds die mid-loop; some die while opening the database.
		n := 0 // acknowledgements in this round
		if round > 0 && rng.IntN(5) == 0 {
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		} else {
			timeout := time.After(10 * time.Second)
			for n == 0 {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("round %d: the writer stopped before acknowledging anything; stderr: %s", round, stderr.String())
					}
					n += record(acked, line)
				case <-timeout:
					_ = cmd.Process.Kill()
					t.Fatalf("round %d: the writer acknowledged nothing in 10 s; stderr: %s", round, stderr.String())
				}
			}
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		}
		_ = cmd.Process.Kill() // SIGKILL
		for line := range lines {
			n += record(acked, line)
		}
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != -1 {
			t.Fatalf("round %d: the writer was not killed but exited: %v; stderr: %s", round, err, stderr.String())
		}
		if n > 0 {
			midLoopKills++
		}
		verifyAfterCrash(t, path, acked, round+1)
	}
	t.Logf("%d kills, %d of them mid-loop; %d acknowledged updates survived", round, midLoopKills, len(acked))
	if midLoopKills < minRounds/2 {
		t.Errorf("only %d kills landed while the writer was committing", midLoopKills)
	}
}

// killerTest skips a test that kills helper processes when it runs as the
// helper itself (env is set) or under -short, and returns its random source,
// logging the seed.
func killerTest(t *testing.T, env string, stream uint64) *rand.Rand {
	t.Helper()
	if os.Getenv(env) != "" {
		t.Skip("running as the helper process")
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// startHelper runs the test binary again for the helper test named test,
// with env added, and returns it started with its stdout to read.
func startHelper(t *testing.T, test string, env ...string) (*exec.Cmd, io.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdout, stderr
}

// record notes an acknowledgement line and reports whether it was one.
func record(acked map[string]bool, line string) int {
	key, ok := strings.CutPrefix(line, "ack ")
	if !ok {
		return 0 // test framework output
	}
	acked[key] = true
	return 1
}

// verifyAfterCrash opens the database as the gateway would, runs bbolt's
// consistency check, and checks every acknowledged key and every record
// present (acknowledged or not) for its full value and secret. kills is the
// number of writers killed so far.
func verifyAfterCrash(t *testing.T, path string, acked map[string]bool, kills int) {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && len(acked) == 0 {
		return // killed before the file was created
	}
	db, err := Open(path, Options{SecretKey: testKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("reopening after a kill: %v", err)
	}
	defer db.Close()
	err = db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("consistency check after a kill: %v", err)
	}
	err = db.View(func(tx Tx) error {
		present := 0
		err := tx.ForEach(Integrations, "", func(key string, value []byte) error {
			present++
			if !bytes.Equal(value, crashValue(key)) {
				return fmt.Errorf("record %s has a partial or wrong value (%d bytes)", key, len(value))
			}
			if s, err := tx.Secret(Connections, key, "token"); err != nil || string(s) != key {
				return fmt.Errorf("secret of %s: %q, %v", key, s, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for key := range acked {
			if tx.Get(Integrations, key) == nil {
				return fmt.Errorf("acknowledged record %s is missing", key)
			}
		}
		// Each killed writer may have committed one update it had no time
		// to acknowledge.
		if present > len(acked)+kills {
			return fmt.Errorf("%d records present for %d acknowledged", present, len(acked))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
