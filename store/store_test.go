package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const testKey = "test-secret-key-0123456789abcdef"

// openTest opens a fresh database in a temporary directory and closes it when
// the test ends.
func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "executor.db"), Options{SecretKey: testKey, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(raw)
}

// populate writes a database with enough data to span many pages and closes it.
func populate(t *testing.T, path string) {
	t.Helper()
	db, err := Open(path, Options{SecretKey: testKey, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx Tx) error {
		for i := range 300 {
			key := fmt.Sprintf("integration-%04d", i)
			if err := tx.Put(Integrations, key, bytes.Repeat([]byte{byte(i)}, 100+i*7)); err != nil {
				return err
			}
			if err := tx.PutSecret(Connections, key, "token", []byte("sentinel-"+key)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesAShortSecretKey(t *testing.T) {
	for _, key := range []string{"", "short", "fifteen-chars!!"} {
		path := filepath.Join(t.TempDir(), "executor.db")
		_, err := Open(path, Options{SecretKey: key})
		if err == nil || !strings.Contains(err.Error(), "openssl rand -hex 32") {
			t.Errorf("Open with a %d-character key: err = %v, want a refusal that says how to generate a key", len(key), err)
		}
		if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("Open with a short key created %s", path)
		}
	}
}

func TestOpenCreatesAPrivateFileInAPrivateDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "nested", "executor.db")
	db, err := Open(path, Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %04o, want at most %04o", p, got, want)
		}
	}
}

func TestReopeningKeepsRecordsAndSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "executor.db")
	populate(t, path)
	before := fileHash(t, path)
	db, err := Open(path, Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if fileHash(t, path) != before {
		t.Error("reopening a database with the right key rewrote the file")
	}
	err = db.View(func(tx Tx) error {
		if n, _ := tx.Count(Integrations, ""); n != 300 {
			t.Errorf("Count = %d, want 300", n)
		}
		pt, err := tx.Secret(Connections, "integration-0042", "token")
		if err != nil || string(pt) != "sentinel-integration-0042" {
			t.Errorf("Secret = %q, %v", pt, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenWithAnotherKeyIsRefusedAndChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "executor.db")
	populate(t, path)
	before := fileHash(t, path)

	_, err := Open(path, Options{SecretKey: "another-secret-key-0123456789"})
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key: err = %v, want ErrWrongKey", err)
	}
	for _, want := range []string{"secret_key does not match", "nothing was changed", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if fileHash(t, path) != before {
		t.Error("the file changed after a refused Open")
	}
	// The lock was released: the right key still opens it.
	db, err := Open(path, Options{SecretKey: testKey, Timeout: time.Second})
	if err != nil {
		t.Fatalf("Open with the right key after a refusal: %v", err)
	}
	db.Close()
}

func TestOpenRefusesASchemaNewerThanTheCode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "executor.db")
	populate(t, path)
	raw, _ := bolt.Open(path, 0o600, nil)
	_ = raw.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(metaSchema), []byte("2"))
	})
	raw.Close()
	before := fileHash(t, path)

	_, err := Open(path, Options{SecretKey: testKey})
	if err == nil || !strings.Contains(err.Error(), "newer executor") {
		t.Fatalf("Open of a schema 2 database: err = %v, want a refusal naming the newer version", err)
	}
	if fileHash(t, path) != before {
		t.Error("the file changed after a refused Open")
	}
}

func TestSecondOpenOfTheSamePathTimesOutWithErrLocked(t *testing.T) {
	db := openTest(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Open(db.Path(), Options{SecretKey: testKey, Timeout: timeout})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), db.Path()) || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("error %q should name the path and say it is in use", err)
	}
	// bbolt polls the lock every 50 ms and gives up one poll early.
	if elapsed < timeout-100*time.Millisecond || elapsed > timeout+2*time.Second {
		t.Errorf("second Open gave up after %s, want about %s", elapsed, timeout)
	}
	// The first handle is unaffected.
	if err := db.Update(func(tx Tx) error { return tx.Put(Audit, "k", []byte("v")) }); err != nil {
		t.Errorf("first handle after a refused second Open: %v", err)
	}
}

func TestDamagedFilesAreRefusedAndLeftUntouched(t *testing.T) {
	valid := func(t *testing.T) []byte {
		path := filepath.Join(t.TempDir(), "valid.db")
		populate(t, path)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	const page = 4096
	cases := []struct {
		name string
		file func(t *testing.T) []byte
	}{
		{"an empty file", func(*testing.T) []byte { return nil }},
		{"a short text file", func(*testing.T) []byte { return []byte("hello\n") }},
		{"64 KiB of random bytes", func(*testing.T) []byte { return garbage(64 << 10) }},
		{"a database truncated to half its size", func(t *testing.T) []byte {
			v := valid(t)
			return v[:len(v)/2]
		}},
		{"a database truncated to its meta pages", func(t *testing.T) []byte { return valid(t)[:2*page] }},
		{"a database cut one page short of its high-water mark", func(t *testing.T) []byte {
			// bbolt grows files in steps, so the tail past the high-water
			// mark is unused; cutting there would not be damage.
			path := filepath.Join(t.TempDir(), "valid.db")
			populate(t, path)
			raw, _ := bolt.Open(path, 0o600, nil)
			var hwm int64
			_ = raw.View(func(tx *bolt.Tx) error { hwm = tx.Size(); return nil })
			raw.Close()
			v, _ := os.ReadFile(path)
			return v[:hwm-page]
		}},
		{"a database with both meta pages zeroed", func(t *testing.T) []byte {
			v := valid(t)
			clear(v[:2*page])
			return v
		}},
		{"a database whose data pages are random bytes", func(t *testing.T) []byte {
			v := valid(t)
			copy(v[2*page:], garbage(len(v)-2*page))
			return v
		}},
		{"a database whose data pages are zeroed", func(t *testing.T) []byte {
			v := valid(t)
			clear(v[2*page:])
			return v
		}},
		{"a bbolt file of another program", func(t *testing.T) []byte {
			path := filepath.Join(t.TempDir(), "other.db")
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Update(func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucket([]byte("widgets"))
				return b.Put([]byte("a"), []byte("b"))
			})
			db.Close()
			raw, _ := os.ReadFile(path)
			return raw
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "executor.db")
			if err := os.WriteFile(path, tc.file(t), 0o600); err != nil {
				t.Fatal(err)
			}
			before := fileHash(t, path)
			db, err := Open(path, Options{SecretKey: testKey, Timeout: time.Second})
			if err == nil {
				db.Close()
				t.Fatal("Open accepted a damaged file")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			t.Log(err)
			if fileHash(t, path) != before {
				t.Error("the damaged file was modified")
			}
		})
	}
}

func TestABareBboltFileIsInitialised(t *testing.T) {
	// A crash between bbolt creating the file and our first commit leaves a
	// database with no buckets at all; nothing is lost by initialising it.
	path := filepath.Join(t.TempDir(), "executor.db")
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db, err := Open(path, Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestUpdateCommitsOnlyWhenEveryWriteSucceeded(t *testing.T) {
	db := openTest(t)
	boom := errors.New("boom")
	cases := []struct {
		name    string
		fn      func(tx Tx) error
		wantErr error
	}{
		{"fn returns an error", func(tx Tx) error {
			_ = tx.Put(Policies, "p", []byte("x"))
			return boom
		}, boom},
		{"a failed write is ignored by fn", func(tx Tx) error {
			_ = tx.Put(Policies, "p", []byte("x"))
			_ = tx.Put(Policies, "", []byte("empty keys are refused"))
			return nil
		}, nil},
		{"a write to a reserved bucket is ignored by fn", func(tx Tx) error {
			_ = tx.Put(Policies, "p", []byte("x"))
			_ = tx.Put(bucketMeta, metaSchema, []byte("9"))
			return nil
		}, nil},
		{"fn panics", func(tx Tx) error {
			_ = tx.Put(Policies, "p", []byte("x"))
			panic("boom")
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() { _ = recover() }()
				err = db.Update(tc.fn)
			}()
			if err == nil && !strings.Contains(tc.name, "panics") {
				t.Fatal("Update returned nil")
			}
			if tc.wantErr != nil && err != tc.wantErr {
				t.Errorf("Update returned %v, want fn's error unchanged", err)
			}
			_ = db.View(func(tx Tx) error {
				if v := tx.Get(Policies, "p"); v != nil {
					t.Errorf("a rolled-back write is visible: %q", v)
				}
				return nil
			})
		})
	}
}

func TestWritesInAViewFail(t *testing.T) {
	db := openTest(t)
	_ = db.View(func(tx Tx) error {
		if tx.Writable() {
			t.Error("a View transaction says it is writable")
		}
		writes := map[string]error{
			"Put":           tx.Put(Tools, "k", nil),
			"PutJSON":       tx.PutJSON(Tools, "k", 1),
			"Delete":        tx.Delete(Tools, "k"),
			"PutSecret":     tx.PutSecret(Tools, "k", "f", nil),
			"DeleteSecrets": tx.DeleteSecrets(Tools, "k"),
		}
		_, writes["NextSequence"] = tx.NextSequence(Tools)
		for name, err := range writes {
			if err == nil {
				t.Errorf("%s in a View succeeded", name)
			}
		}
		return nil
	})
}

func TestATxUsedAfterItsFunctionReturnedFails(t *testing.T) {
	db := openTest(t)
	var leaked Tx
	_ = db.Update(func(tx Tx) error {
		leaked = tx
		return tx.Put(Tools, "k", []byte("v"))
	})
	if err := leaked.Put(Tools, "k2", []byte("v")); err == nil {
		t.Error("Put on a finished transaction succeeded")
	}
	if v := leaked.Get(Tools, "k"); v != nil {
		t.Error("Get on a finished transaction returned a value")
	}
	if _, err := leaked.Secret(Tools, "k", "f"); err == nil {
		t.Error("Secret on a finished transaction succeeded")
	}
}

func TestViewAndUpdateAfterCloseReturnErrClosed(t *testing.T) {
	db := openTest(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	nop := func(Tx) error { return nil }
	if err := db.View(nop); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close: %v, want ErrClosed", err)
	}
	if err := db.Update(nop); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
}

func TestConcurrentReadModifyWriteLosesNoUpdate(t *testing.T) {
	db := openTest(t)
	const goroutines, increments = 100, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			for range increments {
				err := db.Update(func(tx Tx) error {
					var n int
					if _, err := tx.GetJSON(Executions, "counter", &n); err != nil {
						return err
					}
					return tx.PutJSON(Executions, "counter", n+1)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Readers run alongside and must always see a whole number.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = db.View(func(tx Tx) error {
					var n int
					_, err := tx.GetJSON(Executions, "counter", &n)
					if err != nil || n < 0 || n > goroutines*increments {
						t.Errorf("reader saw %d, %v", n, err)
					}
					return nil
				})
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int
	_ = db.View(func(tx Tx) error { _, err := tx.GetJSON(Executions, "counter", &n); return err })
	if n != goroutines*increments {
		t.Errorf("counter = %d after %d increments", n, goroutines*increments)
	}
}
