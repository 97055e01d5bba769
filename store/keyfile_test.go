package store

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestGenerateKeyFileCreatesAPrivateKeyAndReusesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "secret.key")
	key, created, err := GenerateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v, err=%v", created, err)
	}
	if raw, err := hex.DecodeString(key); err != nil || len(raw) != 32 {
		t.Errorf("key %q is not 32 hex-encoded bytes", key)
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
	again, created, err := GenerateKeyFile(path)
	if err != nil || created || again != key {
		t.Errorf("second call: key equal=%v, created=%v, err=%v; want the same key, not created", again == key, created, err)
	}
	// The key opens a database.
	db, err := Open(filepath.Join(filepath.Dir(path), "executor.db"), Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".executor-key-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestGenerateKeyFileReadsAnOperatorsKeyFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := filepath.Join(t.TempDir(), "secret.key")
		if err := os.WriteFile(path, []byte("  operator-chosen-key-1234\n"), mode); err != nil {
			t.Fatal(err)
		}
		key, created, err := GenerateKeyFile(path)
		if err != nil || created || key != "operator-chosen-key-1234" {
			t.Errorf("mode %04o: key=%q created=%v err=%v", mode, key, created, err)
		}
	}
}

func TestGenerateKeyFileRefusesAFileOthersCanRead(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		path := filepath.Join(t.TempDir(), "secret.key")
		if err := os.WriteFile(path, []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		key, _, err := GenerateKeyFile(path)
		if err == nil || key != "" {
			t.Errorf("mode %04o: accepted (key returned: %v)", mode, key != "")
			continue
		}
		if !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: error %q does not say how to fix the mode", mode, err)
		}
		if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("the error contains the key: %v", err)
		}
	}
}

func TestGenerateKeyFileRefusesAnEmptyOrShortFile(t *testing.T) {
	for _, content := range []string{"", "\n", "short-key\n"} {
		path := filepath.Join(t.TempDir(), "secret.key")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := GenerateKeyFile(path); err == nil {
			t.Errorf("content %q accepted", content)
		}
		if raw, _ := os.ReadFile(path); string(raw) != content {
			t.Errorf("content %q was rewritten to %q", content, raw)
		}
	}
}

func TestGenerateKeyFileRacingCallersAgreeOnOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	const n = 8
	keys := make([]string, n)
	creators := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			keys[i], creators[i], err = GenerateKeyFile(path)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		if keys[i] != keys[0] {
			t.Errorf("caller %d got another key", i)
		}
		if creators[i] {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d callers report creating the file, want 1", created)
	}
}
