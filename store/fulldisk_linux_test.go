package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// security.md K5: the disk fills up during a commit. A process whose file
// size limit (RLIMIT_FSIZE) stops the database from growing stands in for a
// full disk: bbolt's writes past the limit fail with EFBIG, as they would
// with ENOSPC.
const fullDiskEnv = "STORE_FULL_DISK_DB"

// TestFullDiskWriter is the writer process of
// TestAFullDiskFailsTheUpdateAndLosesNothing; it skips when run directly.
func TestFullDiskWriter(t *testing.T) {
	path := os.Getenv(fullDiskEnv)
	if path == "" {
		t.Skip("helper process of TestAFullDiskFailsTheUpdateAndLosesNothing")
	}
	signal.Ignore(syscall.SIGXFSZ) // the error, not the signal, must reach the store
	db, err := Open(path, Options{SecretKey: testKey, Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(2)
	}
	st, err := os.Stat(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(2)
	}
	var was syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(2)
	}
	// The soft limit only, so that it can be raised again below.
	limit := uint64(st.Size()) + 1<<20
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: was.Max}); err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("big-%03d", i)
		err := db.Update(func(tx Tx) error {
			if err := tx.Put(Integrations, key, crashValue(key+strings.Repeat("x", 40))); err != nil {
				return err
			}
			return tx.PutSecret(Connections, key, "token", bytes.Repeat([]byte(key), 4096))
		})
		if err != nil {
			fmt.Fprintf(out, "refused %s %v\n", key, err)
			break
		}
		fmt.Fprintf(out, "ack %s\n", key)
	}
	// Room is made again: the store still works.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &was); err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		os.Exit(2)
	}
	if err := db.Update(func(tx Tx) error { return tx.PutJSON(Tools, "after", "room again") }); err != nil {
		fmt.Fprintf(out, "after %v\n", err)
	} else {
		fmt.Fprintln(out, "after ok")
	}
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "writer: close:", err)
		os.Exit(3)
	}
}

func TestAFullDiskFailsTheUpdateAndLosesNothing(t *testing.T) {
	if os.Getenv(fullDiskEnv) != "" {
		t.Skip("running as the helper process")
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "executor.db")
	db, err := Open(path, Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx Tx) error { return tx.PutJSON(Integrations, "before", "kept") }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cmd, stdout, stderr := startHelper(t, "TestFullDiskWriter", fullDiskEnv+"="+path)
	var acked []string
	refused, after := "", ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ack "):
			acked = append(acked, strings.TrimPrefix(line, "ack "))
		case strings.HasPrefix(line, "refused "):
			refused = strings.TrimPrefix(line, "refused ")
		case strings.HasPrefix(line, "after "):
			after = strings.TrimPrefix(line, "after ")
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the writer failed: %v; stderr: %s", err, stderr.String())
	}
	if refused == "" || !strings.Contains(refused, "file too large") {
		t.Fatalf("no Update was refused when the file could not grow (acked %d); refused %q; stderr: %s", len(acked), refused, stderr.String())
	}
	t.Logf("%d Updates acknowledged before one was refused: %s", len(acked), refused)
	if after != "ok" {
		t.Fatalf("with room again, an Update: %s", after)
	}

	// Every acknowledged write is there, the refused one is not, and bbolt
	// finds the file consistent.
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("bbolt's check: %v", err)
	}
	bdb.Close()
	db, err = Open(path, Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	refusedKey, _, _ := strings.Cut(refused, " ")
	err = db.View(func(tx Tx) error {
		for _, key := range append(acked, "before") {
			if tx.Get(Integrations, key) == nil {
				return fmt.Errorf("acknowledged %s is missing", key)
			}
		}
		if tx.Get(Integrations, refusedKey) != nil {
			return fmt.Errorf("the refused %s was written", refusedKey)
		}
		if _, err := tx.Secret(Connections, refusedKey, "token"); err == nil {
			return fmt.Errorf("the refused %s's secret was written", refusedKey)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
