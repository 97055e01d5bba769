// Package store is the persistent state of the gateway: one bbolt file holding
// integrations, connections, the tool catalog, policies, paused executions, the
// audit log, and credentials sealed with an AEAD.
//
// The rest of the gateway sees only the [Store] and [Tx] interfaces, so that a
// replicated backend can replace the bbolt file later without touching callers.
// This package is the only one that imports bbolt.
//
// # Guarantees
//
//   - [Store.Update] is atomic and serialised: either every write made by its
//     function is committed and flushed to disk (fdatasync) before Update
//     returns nil, or none is. A commit that fails is reported; Update never
//     returns nil for a write that did not reach the disk.
//   - A process killed at any moment (kill -9) leaves a file that opens, passes
//     bbolt's consistency check, and holds every Update that had returned nil.
//   - [Store.View] transactions see a consistent snapshot and run concurrently
//     with each other and with one Update.
//   - Every byte slice a [Tx] returns is a copy owned by the caller; it stays
//     valid after the transaction ends and may be modified.
//   - Secrets written with [Tx.PutSecret] are stored only as ciphertext, bound
//     to their bucket, record and field; reading one back under another name,
//     after any modification, or with another key is an error, never garbage.
//   - A file that is damaged, truncated, not a database of ours, or was created
//     with another secret key is refused at [Open] with an error saying so, and
//     is left byte-for-byte as it was. It is never re-initialised.
//
// # Durability
//
// Every Update ends in fdatasync (bbolt's NoSync stays false), so a committed
// Update survives power loss as far as the file system keeps its promises. On
// Linux 5.10 to 5.15.26 with ext4 fast_commit enabled, bbolt can lose or
// corrupt data after a power failure (etcd-io/bbolt#562); use a fixed kernel or
// disable fast_commit on the file system of the data directory.
//
// # Rules for callers
//
// A [Tx] is valid only inside the function passed to View or Update, and only
// on the goroutine that runs that function. That function must not call View
// or Update on the same store: a nested Update waits forever for the outer one,
// and a View inside an Update can deadlock when the file has to grow. Keep
// View functions short; a long read transaction pins old pages and makes the
// file grow. Do read-modify-write (counters, check-then-set) inside a single
// Update, never as a View followed by an Update.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Store is the persistent state of the gateway.
//
// Implementations must make Update atomic and serialised (all of its writes
// become visible and durable together, after every earlier Update and before
// every later one), must give View a consistent snapshot, and must be safe for
// concurrent use by many goroutines. A Tx must not be used after its function
// returns. Close waits for running transactions to finish.
type Store interface {
	// View runs fn in a read-only transaction. Write methods of the Tx return
	// an error. The error fn returns is returned unchanged.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it if fn returns
	// nil and every write it made succeeded; otherwise nothing fn wrote is kept
	// and the error is returned (fn's error unchanged).
	Update(fn func(Tx) error) error
	// Version returns a number that changes whenever an Update that wrote to
	// bucket b (a record, or a record's secret) commits; the new number is in
	// place before that Update returns. Data read in a View begun after
	// Version(b) returned v reflects every Update that had returned by then,
	// and stays current while Version(b) still returns v (an Update still in
	// progress may or may not be seen, as with any View): the test for a
	// cache of records.
	Version(b Bucket) uint64
	// Close releases the store. Later calls to View and Update return ErrClosed.
	Close() error
}

// Bucket names a set of records (a table). Keys within a bucket are kept in
// byte order. Buckets other than the constants below are created by the first
// write into them; reading a bucket that does not exist finds nothing.
//
// Names must be non-empty and must not contain a 0x00 byte. Names that begin
// with an underscore are reserved for the store itself: reads of them find
// nothing and writes to them fail.
type Bucket string

// The buckets of the gateway. They exist from the first Open on.
const (
	Integrations Bucket = "integrations" // configured upstream integrations
	Connections  Bucket = "connections"  // per-owner connections to integrations
	Tools        Bucket = "tools"        // the tool catalog
	Policies     Bucket = "policies"     // allow / approve / block rules
	Executions   Bucket = "executions"   // paused code-mode runs and their journals
	Audit        Bucket = "audit"        // the audit log (use sequence keys, page with ForEachReverse)
	OAuth        Bucket = "oauth"        // OAuth client registrations and flows in progress
	Sessions     Bucket = "sessions"     // MCP and console sessions
	Blobs        Bucket = "blobs"        // source documents (OpenAPI descriptions, GraphQL schemas)
)

// Internal buckets; their names start with '_' so no caller can name them.
const (
	bucketMeta    Bucket = "_meta"    // schema version, install salt, key check
	bucketSecrets Bucket = "_secrets" // sealed secrets, keyed bucket\0record\0field
)

var knownBuckets = []Bucket{Integrations, Connections, Tools, Policies, Executions, Audit, OAuth, Sessions, Blobs, bucketSecrets}

// Tx is a transaction: a consistent view of the store, writable inside
// [Store.Update]. Keys are strings compared byte by byte. A Tx must be used
// only by the goroutine running the View or Update function and only until that
// function returns; after that every method fails (Get returns nil).
//
// In an Update, a write method that fails also marks the transaction failed:
// Update then rolls back and returns that error even if fn ignored it and
// returned nil, so a half-done set of writes is never committed.
type Tx interface {
	// Get returns a copy of the value stored under key, or nil if there is none.
	// The slice stays valid after the transaction and may be modified.
	Get(b Bucket, key string) []byte
	// GetJSON decodes the value stored under key into v. It reports false and
	// no error when the key is absent.
	GetJSON(b Bucket, key string, v any) (bool, error)
	// Put stores value under key, replacing any previous value. The store keeps
	// its own copy; value may be reused after Put returns.
	Put(b Bucket, key string, value []byte) error
	// PutJSON stores the JSON encoding of v under key.
	PutJSON(b Bucket, key string, v any) error
	// Delete removes key. Deleting a key that does not exist is not an error.
	// Delete does not touch the record's secrets; see DeleteSecrets.
	Delete(b Bucket, key string) error

	// ForEach calls fn for every key that starts with prefix, in ascending byte
	// order. The value slice is a copy owned by fn. If fn returns ErrStop
	// (or an error wrapping it) the walk ends and ForEach returns nil; any other
	// error ends the walk and is returned unchanged. Inside an Update, fn may Put
	// and Delete in the same bucket: keys already visited are not revisited, and
	// keys added ahead of the walk may or may not be visited.
	ForEach(b Bucket, prefix string, fn func(key string, value []byte) error) error
	// ForEachReverse is ForEach in descending byte order (newest first for
	// sequence keys, which is how the audit log is paged).
	ForEachReverse(b Bucket, prefix string, fn func(key string, value []byte) error) error
	// Count returns how many keys start with prefix. It walks the keys, so its
	// cost grows with the answer.
	Count(b Bucket, prefix string) (int, error)
	// NextSequence returns the next value of the bucket's counter, starting at 1.
	// It is part of the transaction: if the Update rolls back, the number is
	// handed out again. Format it with [SequenceKey] to get keys that sort in
	// numeric order.
	NextSequence(b Bucket) (uint64, error)

	// PutSecret seals plaintext and stores it as field of record in bucket b.
	// Only the ciphertext is stored; the caller may clear plaintext afterwards.
	// Record and field names must be non-empty and free of 0x00 bytes.
	PutSecret(b Bucket, record, field string, plaintext []byte) error
	// Secret opens a sealed value. It returns an error wrapping ErrNotFound if
	// there is none, ErrWrongKey if it was sealed under another key, and
	// ErrCorrupt if it was modified, truncated, moved from another record or
	// written in a format this build does not know. It never returns a
	// plaintext that is not exactly what PutSecret stored there. Clear the
	// returned slice when done with it.
	Secret(b Bucket, record, field string) ([]byte, error)
	// DeleteSecrets removes every secret field of record in bucket b.
	DeleteSecrets(b Bucket, record string) error

	// Writable reports whether this is an Update transaction.
	Writable() bool
	// Size is the size of the database file, in bytes, as this transaction
	// sees it.
	Size() int64
}

// Errors reported by the store. Test for them with errors.Is; the errors
// returned carry a sentence of context around them.
var (
	// ErrNotFound: the requested secret does not exist.
	ErrNotFound = errors.New("not found")
	// ErrStop ends ForEach and ForEachReverse early without error.
	ErrStop = errors.New("stop iteration")
	// ErrWrongKey: the database or a value was sealed under another secret key.
	ErrWrongKey = errors.New("wrong secret key")
	// ErrLocked: another process (or another Open in this one) holds the database.
	ErrLocked = errors.New("database is locked")
	// ErrCorrupt: stored data failed an integrity check, or is in a format this
	// build does not know.
	ErrCorrupt = errors.New("corrupt data")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store is closed")
	// ErrRotationUnfinished: a RotateKey of the database was interrupted;
	// running it again with the same keys finishes it.
	ErrRotationUnfinished = errors.New("secret key rotation unfinished")
)

// storeError is an error with a full sentence for people and a sentinel for code.
type storeError struct {
	msg  string
	kind error
}

func (e *storeError) Error() string { return e.msg }
func (e *storeError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &storeError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// Options configure Open.
type Options struct {
	// SecretKey is the key secrets are sealed under (the `secret_key` of the
	// Caddyfile). It must be at least 16 characters; use 32 random bytes, e.g.
	// from `openssl rand -hex 32` or GenerateKeyFile. A database stays bound to
	// the key it was created with.
	SecretKey string
	// Timeout bounds the wait for the file lock held by another process (or by
	// another Open of the same path in this process). Zero or negative means
	// the default of 5 seconds; the store never waits forever.
	Timeout time.Duration
}

// MinSecretKeyLength is the shortest secret key Open accepts, in characters.
const MinSecretKeyLength = 16

const (
	defaultTimeout = 5 * time.Second
	schemaVersion  = 1

	metaSchema   = "schema_version"
	metaSalt     = "install_salt"
	metaKeyCheck = "key_check"
	// metaNextKeyCheck is the key check of the new key while RotateKey
	// re-seals the secrets; its presence means a rotation is unfinished.
	metaNextKeyCheck = "next_key_check"

	// keyCheckPlaintext is sealed under the derived key at creation; opening it
	// later proves the secret key is the same.
	keyCheckPlaintext = "executor key check v1"
)

// DB is a Store kept in one bbolt file. It is safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	path   string
	sealer *sealer

	closeOnce sync.Once
	closeErr  error

	versionMu sync.Mutex
	versions  map[Bucket]uint64
}

var _ Store = (*DB)(nil)

// Open opens the database at path, creating it (and its directory, mode 0700)
// if it does not exist. A new file gets mode 0600, the store's buckets, a
// random install salt and a key-check value derived from opts.SecretKey.
//
// Open holds an exclusive lock on the file until Close. If another process or
// another Open in this process holds it, Open gives up after opts.Timeout
// with an error wrapping ErrLocked. A second user in the same process (a Caddy
// config reload) must share the *DB instead of opening the path again.
//
// Open refuses, leaving the file untouched:
//   - a secret key shorter than MinSecretKeyLength;
//   - a key that differs from the one the database was created with, or
//     last rotated to (ErrWrongKey);
//   - a database whose key rotation was interrupted (ErrRotationUnfinished;
//     see RotateKey);
//   - an empty, truncated or damaged file, or a bbolt file of another program
//     (ErrCorrupt). Every Open reads the whole tree and runs bbolt's
//     consistency check: about 40 ms per 100,000 small records;
//   - a database written by a newer schema than this build knows.
func Open(path string, opts Options) (*DB, error) {
	if n := utf8.RuneCountInString(opts.SecretKey); n < MinSecretKeyLength {
		return nil, fmt.Errorf("secret_key must be at least %d characters (got %d); generate one with `openssl rand -hex 32`", MinSecretKeyLength, n)
	}
	db, err := openFile(path, opts.Timeout)
	if err != nil {
		return nil, err
	}
	if err := db.init(opts.SecretKey); err != nil {
		_ = db.bolt.Close()
		return nil, err
	}
	return db, nil
}

// openFile opens (or creates) the bbolt file at path, without reading or
// writing the store's meta data.
func openFile(path string, timeout time.Duration) (*DB, error) {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the directory of the database %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("the database path %s is not a regular file; point storage at a file", path)
		}
		// bbolt would silently initialise an empty file; an empty file where a
		// database should be is a loss to report, not a fresh start.
		if fi.Size() == 0 {
			return nil, errorf(ErrCorrupt, "the database file %s is empty (was it truncated?); restore it from a backup, or delete it to start with an empty database", path)
		}
	}

	bdb, err := openBolt(path, timeout)
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, errorf(ErrLocked, "the database %s is in use by another process, or already open in this one (waited %s for its lock); stop the other executor or point storage at another file", path, timeout)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
			return nil, errorf(ErrCorrupt, "the database file %s is damaged or is not a bbolt database (%v); it was left untouched: restore it from a backup or move it aside", path, err)
		case errors.Is(err, ErrCorrupt):
			return nil, err
		}
		return nil, fmt.Errorf("opening the database %s: %w", path, err)
	}
	return &DB{bolt: bdb, path: path}, nil
}

// init checks the file, then either creates the meta record (new database) or
// verifies the secret key against it. Nothing is written unless the database
// is new or the key has been verified.
func (db *DB) init(secretKey string) error {
	if err := db.checkConsistency(); err != nil {
		return err
	}
	m, err := db.readMeta()
	if err != nil {
		return err
	}
	if m.next != nil {
		// Some secrets are sealed under the old key and some under the new:
		// neither key alone can serve the database.
		return errorf(ErrRotationUnfinished, "a rotation of the secret key of %s was interrupted; nothing was changed: run `executor rotate-key` again with the same old and new keys to finish it, then start with the new key", db.path)
	}

	if m.fresh {
		salt := randomBytes(saltLen)
		s, err := newSealer(secretKey, salt)
		if err != nil {
			return err
		}
		db.sealer = s
		return db.bolt.Update(func(tx *bolt.Tx) error {
			meta, err := tx.CreateBucket([]byte(bucketMeta))
			if err != nil {
				return fmt.Errorf("initialising %s: %w", db.path, err)
			}
			for k, v := range map[string][]byte{
				metaSchema:   []byte(strconv.Itoa(schemaVersion)),
				metaSalt:     salt,
				metaKeyCheck: s.seal(bucketMeta, metaKeyCheck, "v1", []byte(keyCheckPlaintext)),
			} {
				if err := meta.Put([]byte(k), v); err != nil {
					return fmt.Errorf("initialising %s: %w", db.path, err)
				}
			}
			return createBuckets(tx, db.path)
		})
	}

	if err := m.usable(db.path); err != nil {
		return err
	}
	s, err := newSealer(secretKey, m.salt)
	if err != nil {
		return err
	}
	if !opensKeyCheck(s, metaKeyCheck, m.check) {
		return errorf(ErrWrongKey, "the secret_key does not match the key of the database %s (the one it was created with, or last rotated to); nothing was changed: start with that key, or move the file aside to start with an empty database", db.path)
	}
	db.sealer = s

	// Buckets added to the code after the file was created.
	missing := false
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		for _, b := range knownBuckets {
			missing = missing || tx.Bucket([]byte(b)) == nil
		}
		return nil
	})
	if !missing {
		return nil
	}
	return db.bolt.Update(func(tx *bolt.Tx) error { return createBuckets(tx, db.path) })
}

// opensKeyCheck reports whether s is the key the check value stored under
// record (metaKeyCheck or metaNextKeyCheck) was sealed with.
func opensKeyCheck(s *sealer, record string, check []byte) bool {
	pt, err := s.open(bucketMeta, record, "v1", check)
	return err == nil && string(pt) == keyCheckPlaintext
}

// metaRecord is what the meta bucket says of the database.
type metaRecord struct {
	fresh       bool // no meta bucket and nothing else: a new file
	version     int
	salt, check []byte
	next        []byte // the new key's check while a rotation is unfinished
}

// readMeta reads the meta bucket. It refuses a bbolt file of another
// program and an unreadable schema version.
func (db *DB) readMeta() (m metaRecord, err error) {
	err = db.bolt.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		if meta == nil {
			if k, _ := tx.Cursor().First(); k != nil {
				return errorf(ErrCorrupt, "%s is a bbolt database of another program (it has a %q bucket and no %q bucket); it was left untouched: point storage at another file", db.path, k, bucketMeta)
			}
			m.fresh = true
			return nil
		}
		raw := meta.Get([]byte(metaSchema))
		v, err := strconv.Atoi(string(raw))
		if err != nil || v < 1 {
			return errorf(ErrCorrupt, "the database %s has an unreadable schema version %q; it was left untouched: restore it from a backup", db.path, raw)
		}
		m.version = v
		m.salt = clone(meta.Get([]byte(metaSalt)))
		m.check = clone(meta.Get([]byte(metaKeyCheck)))
		m.next = clone(meta.Get([]byte(metaNextKeyCheck)))
		return nil
	})
	return m, err
}

// usable refuses an existing database this build cannot serve: written by a
// newer schema, or missing its install salt or key check.
func (m metaRecord) usable(path string) error {
	if m.version > schemaVersion {
		return fmt.Errorf("the database %s was written by a newer executor (schema version %d; this build knows up to %d); nothing was changed: upgrade executor", path, m.version, schemaVersion)
	}
	if len(m.salt) != saltLen || m.check == nil {
		return errorf(ErrCorrupt, "the database %s is missing its install salt or key check; it was left untouched: restore it from a backup", path)
	}
	return nil
}

func createBuckets(tx *bolt.Tx, path string) error {
	for _, b := range knownBuckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return fmt.Errorf("creating bucket %q in %s: %w", b, path, err)
		}
	}
	return nil
}

// openBolt opens the file with bbolt. bbolt reads the freelist page while
// opening; in a damaged or truncated file that read can fault, which would kill
// the process, so faults and panics become ErrCorrupt here. After a panic the
// file is closed through the handle captured from OpenFile, releasing its lock.
func openBolt(path string, timeout time.Duration) (bdb *bolt.DB, err error) {
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				_ = file.Close()
			}
			bdb, err = nil, errorf(ErrCorrupt, "the database file %s is damaged (%v); it was left untouched: restore it from a backup or move it aside", path, r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{
		Timeout: timeout,
		NoSync:  false, // a commit is on disk before Update returns
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
}

// checkConsistency runs before anything else reads the file:
//  1. a file shorter than its own high-water mark is truncated; reading the
//     missing pages would fault;
//  2. a walk over every bucket, key and value on this goroutine, where faults
//     and bbolt's panics on damaged pages become errors;
//  3. bbolt's own consistency check (page accounting, key order), which runs
//     on a goroutine of its own and is safe only after the walk succeeded.
func (db *DB) checkConsistency() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = errorf(ErrCorrupt, "the database file %s is damaged (%v); it was left untouched: restore it from a backup or move it aside", db.path, r)
		}
	}()
	return db.bolt.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(db.path)
		if err != nil {
			return fmt.Errorf("checking the database %s: %w", db.path, err)
		}
		if fi.Size() < tx.Size() {
			return errorf(ErrCorrupt, "the database file %s is truncated (%d bytes, its header says %d); it was left untouched: restore it from a backup or move it aside", db.path, fi.Size(), tx.Size())
		}
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return touch(b, 0) }); err != nil {
			return errorf(ErrCorrupt, "the database file %s is damaged (%v); it was left untouched: restore it from a backup or move it aside", db.path, err)
		}
		var problems []error
		for e := range tx.Check() {
			if len(problems) < 3 {
				problems = append(problems, e)
			}
		}
		if len(problems) > 0 {
			return errorf(ErrCorrupt, "the database file %s failed its consistency check (%v); it was left untouched: restore it from a backup or move it aside", db.path, errors.Join(problems...))
		}
		return nil
	})
}

// touch reads every key and value of b and its nested buckets.
func touch(b *bolt.Bucket, depth int) error {
	if depth > 8 {
		return errors.New("buckets nested too deeply")
	}
	var sum byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if child := b.Bucket(k); child != nil {
				if err := touch(child, depth+1); err != nil {
					return err
				}
			}
			continue
		}
		// One byte per kilobyte reaches every overflow page of a large value.
		for i := 0; i < len(v); i += 1024 {
			sum ^= v[i]
		}
		if len(v) > 0 {
			sum ^= v[len(v)-1]
		}
	}
	runtime.KeepAlive(sum)
	return nil
}

// Path returns the path of the database file.
func (db *DB) Path() string { return db.path }

// View runs fn in a read-only transaction; see [Store.View].
func (db *DB) View(fn func(Tx) error) error {
	return db.run(false, fn)
}

// Update runs fn in a read-write transaction and commits it; see [Store.Update].
func (db *DB) Update(fn func(Tx) error) error {
	return db.run(true, fn)
}

func (db *DB) run(writable bool, fn func(Tx) error) error {
	btx, err := db.bolt.Begin(writable)
	if err != nil {
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			return errorf(ErrClosed, "the database %s is closed", db.path)
		}
		return fmt.Errorf("starting a transaction on %s: %w", db.path, err)
	}
	t := &tx{tx: btx, sealer: db.sealer}
	defer func() {
		t.done = true
		if btx.DB() != nil { // still open: fn panicked
			_ = btx.Rollback()
		}
	}()
	if err := fn(t); err != nil {
		_ = btx.Rollback()
		return err
	}
	if !writable {
		return btx.Rollback()
	}
	if t.err != nil {
		_ = btx.Rollback()
		return t.err
	}
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("committing to %s (nothing was saved): %w", db.path, err)
	}
	if len(t.wrote) > 0 {
		db.versionMu.Lock()
		if db.versions == nil {
			db.versions = map[Bucket]uint64{}
		}
		for _, b := range t.wrote {
			db.versions[b]++
		}
		db.versionMu.Unlock()
	}
	return nil
}

// Version returns the count of committed Updates that wrote to b since
// Open; see [Store.Version].
func (db *DB) Version(b Bucket) uint64 {
	db.versionMu.Lock()
	defer db.versionMu.Unlock()
	return db.versions[b]
}

// Close waits for running transactions, then releases the file and its lock.
// Calling Close again returns the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if err := db.bolt.Close(); err != nil {
			db.closeErr = fmt.Errorf("closing the database %s: %w", db.path, err)
		}
	})
	return db.closeErr
}

// clone copies b out of the mmap. An empty value stays non-nil, so that it is
// not mistaken for an absent one.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
