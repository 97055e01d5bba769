package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// maxKeyFileSize bounds what GenerateKeyFile reads: a key file is one line.
const maxKeyFileSize = 4096

// GenerateKeyFile returns the secret key stored in the file at path, creating
// the file first if it does not exist. It is how the local default gets a
// secret key without configuration.
//
// An existing file must be a regular file that only its owner can read or
// write (mode 0600 or 0400); otherwise GenerateKeyFile refuses it and says how
// to fix the mode. Leading and trailing white space is ignored, and the key
// must be at least MinSecretKeyLength characters.
//
// A new file gets 32 random bytes, hex-encoded, mode 0600, in a directory
// created with mode 0700. It appears complete or not at all (written and synced
// under a temporary name, then linked into place), and never replaces a file
// that another process created in the meantime: in that race the other
// process's key is returned. created reports whether this call wrote the file.
func GenerateKeyFile(path string) (key string, created bool, err error) {
	key, err = readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("creating the directory of the key file %s: %w", path, err)
	}
	key = hex.EncodeToString(randomBytes(32))
	switch err := createKeyFile(path, key); {
	case errors.Is(err, fs.ErrExist): // another process won the race
		key, err = readKeyFile(path)
		return key, false, err
	case err != nil:
		return "", false, err
	}
	return key, true, nil
}

// createKeyFile writes key to a temporary file and links it to path, which
// fails with fs.ErrExist if path exists. Where hard links are not supported it
// falls back to an exclusive create of path itself.
func createKeyFile(path, key string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".executor-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("creating the key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := writeAndSync(tmp, key); err != nil {
		return fmt.Errorf("writing the key file %s: %w", path, err)
	}
	err = os.Link(tmp.Name(), path)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("creating the key file %s: %w", path, err)
		}
		if err := writeAndSync(f, key); err != nil {
			_ = os.Remove(path)
			return fmt.Errorf("writing the key file %s: %w", path, err)
		}
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func writeAndSync(f *os.File, key string) error {
	_, err := f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readKeyFile reads a key file, refusing one that others can read or write.
func readKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("reading the key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("the key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("the key file %s has mode %04o, so other users can read or change it; restrict it with `chmod 600 %s`", path, perm, path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return "", fmt.Errorf("reading the key file %s: %w", path, err)
	}
	if len(raw) > maxKeyFileSize {
		return "", fmt.Errorf("the key file %s is larger than %d bytes; it should hold one key", path, maxKeyFileSize)
	}
	key := strings.TrimSpace(string(raw))
	clear(raw)
	if n := len([]rune(key)); n < MinSecretKeyLength {
		return "", fmt.Errorf("the key file %s holds %d characters, fewer than %d; if no database was created with it, delete it and a new key will be generated", path, n, MinSecretKeyLength)
	}
	return key, nil
}

// ReadKeyFile returns the secret key in the file at path, with the checks
// of GenerateKeyFile (a regular file only its owner can read or write, a key
// of at least MinSecretKeyLength characters); it never creates the file.
func ReadKeyFile(path string) (string, error) { return readKeyFile(path) }
