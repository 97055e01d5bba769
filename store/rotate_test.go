package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const newTestKey = "new-secret-key-fedcba9876543210"

// rotationFixture is a closed database at path holding secrets (and one plain
// record) written under testKey.
func rotationFixture(t *testing.T, n int) (path string, want map[string]string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "executor.db")
	db, err := Open(path, Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{}
	err = db.Update(func(tx Tx) error {
		for i := range n {
			b, record, field := Connections, fmt.Sprintf("org//api/c%03d", i), "var:token"
			if i%3 == 0 {
				b, field = OAuth, "oauth:refresh"
			}
			v := fmt.Sprintf("SENTINEL-%03d", i)
			want[secretKey(b, record, field)] = v
			if err := tx.PutSecret(b, record, field, []byte(v)); err != nil {
				return err
			}
		}
		return tx.PutJSON(Integrations, "api", map[string]string{"name": "plain"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// checkSecrets opens path with key and compares every secret with want.
func checkSecrets(t *testing.T, path, key string, want map[string]string) {
	t.Helper()
	db, err := Open(path, Options{SecretKey: key})
	if err != nil {
		t.Fatalf("opening with the key: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx Tx) error {
		for k, v := range want {
			b, record, field, _ := splitSecretKey(k)
			got, err := tx.Secret(b, record, field)
			if err != nil {
				return err
			}
			if string(got) != v {
				return fmt.Errorf("%s/%s/%s is %q, want %q", b, record, field, got, v)
			}
		}
		var in map[string]string
		if _, err := tx.GetJSON(Integrations, "api", &in); err != nil || in["name"] != "plain" {
			return fmt.Errorf("the plain record: %v %v", in, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sealedUnder counts the secrets in the file by the key they are sealed
// under: the old, the new, or neither.
func sealedUnder(t *testing.T, path string) (old, new, neither int) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var salt []byte
	_ = bdb.View(func(tx *bolt.Tx) error {
		salt = clone(tx.Bucket([]byte(bucketMeta)).Get([]byte(metaSalt)))
		return nil
	})
	oldS, _ := newSealer(testKey, salt)
	newS, _ := newSealer(newTestKey, salt)
	_ = bdb.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketSecrets)).ForEach(func(k, blob []byte) error {
			b, record, field, _ := splitSecretKey(string(k))
			if _, err := oldS.open(b, record, field, blob); err == nil {
				old++
			} else if _, err := newS.open(b, record, field, blob); err == nil {
				new++
			} else {
				neither++
			}
			return nil
		})
	})
	return old, new, neither
}

func TestRotateKeyReSealsEverySecretUnderTheNewKey(t *testing.T) {
	path, want := rotationFixture(t, 20)
	rep, err := RotateKey(path, testKey, newTestKey, RotateOptions{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resealed != 20 || rep.AlreadyNew != 0 || rep.WasRotated {
		t.Fatalf("report %+v, want 20 re-sealed", rep)
	}
	checkSecrets(t, path, newTestKey, want)
	if _, err := Open(path, Options{SecretKey: testKey}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("the old key after the rotation: %v, want ErrWrongKey", err)
	}
	// Running it again is harmless.
	rep, err = RotateKey(path, testKey, newTestKey, RotateOptions{})
	if err != nil || !rep.WasRotated || rep.Resealed != 0 {
		t.Fatalf("a repeated rotation: %+v %v", rep, err)
	}
	checkSecrets(t, path, newTestKey, want)
}

func TestRotateKeyRefusesAndChangesNothing(t *testing.T) {
	path, want := rotationFixture(t, 4)
	cases := []struct {
		name     string
		path     string
		old, new string
		want     error  // errors.Is, or nil to match text only
		text     string // in the message
	}{
		{"the old key is not the database's", path, "not-the-key-0123456789", newTestKey, ErrWrongKey, "old secret key is not the key"},
		{"the new key is too short", path, testKey, "short", nil, "at least 16 characters"},
		{"the new key is the old one", path, testKey, testKey, nil, "same as the old"},
		{"no database at the path", filepath.Join(t.TempDir(), "none.db"), testKey, newTestKey, os.ErrNotExist, "none.db"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := RotateKey(c.path, c.old, c.new, RotateOptions{})
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, c.want, c.text)
			}
		})
	}
	if _, err := os.Stat(cases[3].path); !errors.Is(err, os.ErrNotExist) {
		t.Error("a rotation of a missing database created a file")
	}
	t.Run("the gateway still holds the database", func(t *testing.T) {
		db, err := Open(path, Options{SecretKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := RotateKey(path, testKey, newTestKey, RotateOptions{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
			t.Fatalf("got %v, want ErrLocked", err)
		}
	})
	checkSecrets(t, path, testKey, want)
	if old, _, _ := sealedUnder(t, path); old != 4 {
		t.Fatalf("%d of 4 secrets are still under the old key", old)
	}
}

func TestAnInterruptedRotationIsRefusedByOpenAndResumes(t *testing.T) {
	path, want := rotationFixture(t, 10)
	interrupted := errors.New("interrupted")
	func() {
		defer func() {
			if r := recover(); r != interrupted {
				t.Fatalf("recovered %v", r)
			}
		}()
		_, _ = RotateKey(path, testKey, newTestKey, RotateOptions{BatchSize: 4, afterBatch: func(int) { panic(interrupted) }})
	}()
	if old, new, neither := sealedUnder(t, path); old != 6 || new != 4 || neither != 0 {
		t.Fatalf("after one batch: %d old, %d new, %d neither; want 6, 4, 0", old, new, neither)
	}
	for _, key := range []string{testKey, newTestKey} {
		if _, err := Open(path, Options{SecretKey: key}); !errors.Is(err, ErrRotationUnfinished) || !strings.Contains(err.Error(), "rotate-key") {
			t.Fatalf("Open mid-rotation: %v, want ErrRotationUnfinished", err)
		}
	}
	if _, err := RotateKey(path, testKey, "a-third-key-0123456789abcdef", RotateOptions{}); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "another new key") {
		t.Fatalf("resuming with another new key: %v", err)
	}
	rep, err := RotateKey(path, testKey, newTestKey, RotateOptions{BatchSize: 4})
	if err != nil || rep.Resealed != 6 || rep.AlreadyNew != 4 {
		t.Fatalf("resumed: %+v %v; want 6 re-sealed, 4 already new", rep, err)
	}
	checkSecrets(t, path, newTestKey, want)
}

func TestRotationRefusesASecretSealedUnderNeitherKey(t *testing.T) {
	path, _ := rotationFixture(t, 3)
	// A value from another database: sealed under a third key.
	foreign, _ := newSealer("a-third-key-0123456789abcdef", make([]byte, saltLen))
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketSecrets)).Put([]byte(secretKey(Connections, "zz", "f")), foreign.seal(Connections, "zz", "f", []byte("x")))
	})
	bdb.Close()
	_, err = RotateKey(path, testKey, newTestKey, RotateOptions{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "connections/zz/f") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("got %v", err)
	}
	// Refused before anything was written: the old key still opens it, so
	// the value can be removed.
	db, err := Open(path, Options{SecretKey: testKey})
	if err != nil {
		t.Fatalf("Open with the old key: %v", err)
	}
	_ = db.Update(func(tx Tx) error { return tx.DeleteSecrets(Connections, "zz") })
	db.Close()
	if old, new, _ := sealedUnder(t, path); old != 3 || new != 0 {
		t.Fatalf("%d old, %d new", old, new)
	}
	if _, err := RotateKey(path, testKey, newTestKey, RotateOptions{}); err != nil {
		t.Fatalf("after removing it: %v", err)
	}
}

// The K2 case with real crashes: a child process rotates one value per
// transaction and is killed with SIGKILL at random moments; after each kill
// every value is sealed under one of the two keys, and a last, uninterrupted
// run finishes the rotation with every value intact.
const rotateWorkerEnv = "STORE_ROTATE_WORKER_DB"

func TestRotateWorker(t *testing.T) {
	path := os.Getenv(rotateWorkerEnv)
	if path == "" {
		t.Skip("helper process of TestAKilledRotationResumes")
	}
	out := bufio.NewWriter(os.Stdout)
	_, err := RotateKey(path, testKey, newTestKey, RotateOptions{BatchSize: 1, Timeout: 5 * time.Second, afterBatch: func(n int) {
		fmt.Fprintf(out, "resealed %d\n", n)
		_ = out.Flush()
		time.Sleep(time.Millisecond)
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rotate:", err)
		os.Exit(2)
	}
}

func TestAKilledRotationResumes(t *testing.T) {
	rng := killerTest(t, rotateWorkerEnv, 1)
	const total = 300
	path, want := rotationFixture(t, total)
	kills := 0
	for round := 0; round < 8; round++ {
		cmd, stdout, stderr := startHelper(t, "TestRotateWorker", rotateWorkerEnv+"="+path)
		// Kill after a random number of committed batches of this round.
		target := 1 + rng.IntN(30)
		sc := bufio.NewScanner(stdout)
		seen := 0
		for seen < target && sc.Scan() {
			if strings.HasPrefix(sc.Text(), "resealed ") {
				seen++
			}
		}
		_ = cmd.Process.Kill()
		for sc.Scan() {
		}
		_ = cmd.Wait()
		if seen < target { // the worker finished before the kill
			break
		}
		kills++
		old, new, neither := sealedUnder(t, path)
		if neither != 0 || old+new != total {
			t.Fatalf("after kill %d: %d old, %d new, %d under neither key (stderr: %s)", kills, old, new, neither, stderr.String())
		}
		if _, err := Open(path, Options{SecretKey: newTestKey}); !errors.Is(err, ErrRotationUnfinished) {
			t.Fatalf("after kill %d: Open with the new key: %v", kills, err)
		}
	}
	if kills < 3 {
		t.Fatalf("only %d kills landed mid-rotation", kills)
	}
	rep, err := RotateKey(path, testKey, newTestKey, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills; the last run re-sealed %d, found %d already new", kills, rep.Resealed, rep.AlreadyNew)
	checkSecrets(t, path, newTestKey, want)
}
