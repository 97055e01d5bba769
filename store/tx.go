package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// tx implements Tx on a bbolt transaction.
type tx struct {
	tx     *bolt.Tx
	sealer *sealer
	done   bool     // the View/Update function has returned
	err    error    // first failed write; makes Update roll back
	wrote  []Bucket // buckets written (their records or their secrets), for DB.Version
}

// mark notes that the transaction writes to bucket b.
func (t *tx) mark(b Bucket) {
	for _, w := range t.wrote {
		if w == b {
			return
		}
	}
	t.wrote = append(t.wrote, b)
}

var (
	errTxDone   = errors.New("store: transaction used after its View or Update function returned")
	errReadOnly = errors.New("store: write in a read-only transaction; use Update")
)

// SequenceKey formats n (from NextSequence) as a fixed-width key, so that byte
// order is numeric order.
func SequenceKey(n uint64) string { return fmt.Sprintf("%020d", n) }

func (t *tx) Writable() bool { return t.tx.Writable() }

func (t *tx) Size() int64 { return t.tx.Size() }

// checkBucket validates a caller-supplied bucket name.
func checkBucket(b Bucket) error {
	switch {
	case b == "":
		return errors.New("store: empty bucket name")
	case strings.HasPrefix(string(b), "_"):
		return fmt.Errorf("store: bucket %q is reserved for the store (names starting with '_' cannot be used)", b)
	case strings.IndexByte(string(b), 0) >= 0:
		return fmt.Errorf("store: bucket name %q contains a 0x00 byte", b)
	}
	return nil
}

// readable returns the bucket to read from, or nil if there is nothing to read.
func (t *tx) readable(b Bucket) (*bolt.Bucket, error) {
	if t.done {
		return nil, errTxDone
	}
	if err := checkBucket(b); err != nil {
		return nil, err
	}
	return t.tx.Bucket([]byte(b)), nil
}

// writable returns the bucket to write to, creating it if needed. Internal
// buckets are reached only with internal set.
func (t *tx) writable(b Bucket, internal bool) (*bolt.Bucket, error) {
	if t.done {
		return nil, errTxDone
	}
	if !t.tx.Writable() {
		return nil, errReadOnly
	}
	if !internal {
		if err := checkBucket(b); err != nil {
			return nil, t.fail(err)
		}
		t.mark(b)
	}
	bk, err := t.tx.CreateBucketIfNotExists([]byte(b))
	if err != nil {
		return nil, t.fail(fmt.Errorf("store: creating bucket %q: %w", b, err))
	}
	return bk, nil
}

// fail records the first failed write so that Update will not commit.
func (t *tx) fail(err error) error {
	if t.err == nil && t.tx.Writable() {
		t.err = err
	}
	return err
}

func (t *tx) Get(b Bucket, key string) []byte {
	bk, err := t.readable(b)
	if err != nil || bk == nil {
		return nil
	}
	return clone(bk.Get([]byte(key)))
}

func (t *tx) GetJSON(b Bucket, key string, v any) (bool, error) {
	bk, err := t.readable(b)
	if err != nil || bk == nil {
		return false, err
	}
	raw := bk.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	// Unmarshal copies what it keeps, so the mmap'd slice does not escape.
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("store: decoding %s/%s: %w", b, key, err)
	}
	return true, nil
}

func (t *tx) Put(b Bucket, key string, value []byte) error {
	bk, err := t.writable(b, false)
	if err != nil {
		return err
	}
	// bbolt keeps the slices until commit; give it its own copies.
	if err := bk.Put([]byte(key), clone(value)); err != nil {
		return t.fail(fmt.Errorf("store: writing %s/%s: %w", b, key, err))
	}
	return nil
}

func (t *tx) PutJSON(b Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return t.fail(fmt.Errorf("store: encoding %s/%s: %w", b, key, err))
	}
	return t.Put(b, key, raw)
}

func (t *tx) Delete(b Bucket, key string) error {
	if t.done {
		return errTxDone
	}
	if !t.tx.Writable() {
		return errReadOnly
	}
	bk, err := t.readable(b)
	if err != nil {
		return t.fail(err)
	}
	if bk == nil {
		return nil
	}
	t.mark(b)
	if err := bk.Delete([]byte(key)); err != nil {
		return t.fail(fmt.Errorf("store: deleting %s/%s: %w", b, key, err))
	}
	return nil
}

func (t *tx) NextSequence(b Bucket) (uint64, error) {
	bk, err := t.writable(b, false)
	if err != nil {
		return 0, err
	}
	n, err := bk.NextSequence()
	if err != nil {
		return 0, t.fail(fmt.Errorf("store: next sequence of %s: %w", b, err))
	}
	return n, nil
}

func (t *tx) ForEach(b Bucket, prefix string, fn func(key string, value []byte) error) error {
	return t.walk(b, prefix, false, fn)
}

func (t *tx) ForEachReverse(b Bucket, prefix string, fn func(key string, value []byte) error) error {
	return t.walk(b, prefix, true, fn)
}

func (t *tx) walk(b Bucket, prefix string, reverse bool, fn func(string, []byte) error) error {
	bk, err := t.readable(b)
	if err != nil || bk == nil {
		return err
	}
	p := []byte(prefix)
	c := bk.Cursor()
	var k, v []byte
	if end := prefixEnd(p); !reverse {
		k, v = c.Seek(p)
	} else if end == nil {
		k, v = c.Last()
	} else {
		k, v = prevBefore(bk, c, end)
	}
	for k != nil && bytes.HasPrefix(k, p) {
		key, value := clone(k), clone(v)
		// Walking backwards, find the next key before fn runs: bbolt steps
		// back badly over leaves that fn may empty (see prevFrom), but a
		// Seek to a known key after fn is cheap and exact.
		var next []byte
		if reverse {
			k, v = prevFrom(bk, c, key)
			next = clone(k)
		}
		if value != nil { // a nil value marks a nested bucket, which is not a record
			if err := fn(string(key), value); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
		switch {
		case !t.tx.Writable() && !reverse:
			k, v = c.Next()
		case !t.tx.Writable():
			// k, v already hold the next key, and nothing has changed.
		case reverse:
			// fn may have changed the bucket, which invalidates the cursor.
			if next == nil {
				return nil
			}
			if k, v = c.Seek(next); k == nil || !bytes.Equal(k, next) { // fn deleted it
				k, v = prevBefore(bk, c, key)
			}
		default:
			if k, v = c.Seek(key); k != nil && bytes.Equal(k, key) {
				k, v = c.Next()
			}
		}
	}
	return nil
}

// prevBefore positions c on the greatest key less than key and returns it, or
// nil if there is none.
func prevBefore(b *bolt.Bucket, c *bolt.Cursor, key []byte) ([]byte, []byte) {
	if k, _ := c.Seek(key); k == nil {
		return c.Last() // Last skips emptied leaves
	}
	return prevFrom(b, c, key)
}

// prevFrom steps c back from its position on (or just after) key. bbolt's
// Cursor.Prev returns nil not only before the first key but also when it steps
// onto a leaf emptied by deletes earlier in the same write transaction (Next,
// First and Last skip such leaves; Prev does not). So a nil is believed only
// if no key before key exists; otherwise stepping on must reach one.
func prevFrom(b *bolt.Bucket, c *bolt.Cursor, key []byte) ([]byte, []byte) {
	if k, v := c.Prev(); k != nil {
		return k, v
	}
	if first, _ := b.Cursor().First(); first == nil || bytes.Compare(first, key) >= 0 {
		return nil, nil
	}
	for {
		if k, v := c.Prev(); k != nil {
			return k, v
		}
	}
}

// prefixEnd returns the smallest key greater than every key starting with p,
// or nil if there is none (p is empty or all 0xff).
func prefixEnd(p []byte) []byte {
	end := clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func (t *tx) Count(b Bucket, prefix string) (int, error) {
	bk, err := t.readable(b)
	if err != nil || bk == nil {
		return 0, err
	}
	p := []byte(prefix)
	n := 0
	c := bk.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if v != nil {
			n++
		}
	}
	return n, nil
}
