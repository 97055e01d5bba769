package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Rotation of the secret key (security.md §5.2, case K2).
//
// The database has one secret key; every sealed value carries the id of the
// key it was sealed under. RotateKey re-seals each value under the new key,
// in batches of its own transactions, so a crash at any moment leaves every
// value sealed under exactly one of the two keys, and running RotateKey again
// finishes the job (values already under the new key are left alone). While
// it is unfinished the meta bucket holds the new key's check value, Open
// refuses the database (neither key alone can read it), and only RotateKey
// with the same new key continues. The last transaction checks that no value
// is left under the old key and makes the new key the database's key.
//
// The install salt stays: the new record key is HKDF(new key, same salt).

// RotateOptions tune RotateKey. Zero values mean the defaults.
type RotateOptions struct {
	// Timeout bounds the wait for the database's lock (another process may
	// hold it: stop the gateway first). Default as for Open.
	Timeout time.Duration
	// BatchSize is how many values one transaction re-seals. Default 256.
	BatchSize int
	// afterBatch, when set (tests), runs after each committed batch with the
	// number of values re-sealed so far.
	afterBatch func(resealed int)
}

// RotateReport says what RotateKey did.
type RotateReport struct {
	// Resealed counts the values this call moved to the new key.
	Resealed int
	// AlreadyNew counts values an earlier, interrupted call had moved.
	AlreadyNew int
	// WasRotated is set when the database already had the new key and
	// nothing was left to do (a repeated call).
	WasRotated bool
}

// RotateKey changes the secret key of the database at path from oldKey to
// newKey, re-sealing every stored secret. The database must not be open
// elsewhere (stop the gateway). It refuses, changing nothing, when oldKey is
// not the database's key, when newKey is too short or equal to oldKey, and
// when an unfinished rotation was to another new key, and (ErrCorrupt) when a
// stored value is sealed under neither key (damage, or a value copied from
// another database), which could never be re-sealed.
func RotateKey(path, oldKey, newKey string, opts RotateOptions) (RotateReport, error) {
	var rep RotateReport
	if n := len([]rune(newKey)); n < MinSecretKeyLength {
		return rep, fmt.Errorf("the new secret key must be at least %d characters (got %d); generate one with `openssl rand -hex 32`", MinSecretKeyLength, n)
	}
	if oldKey == newKey {
		return rep, errors.New("the new secret key is the same as the old one")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if _, err := os.Stat(path); err != nil {
		return rep, fmt.Errorf("the database %s: %w", path, err)
	}
	db, err := openFile(path, opts.Timeout)
	if err != nil {
		return rep, err
	}
	defer db.bolt.Close()
	if err := db.checkConsistency(); err != nil {
		return rep, err
	}
	m, err := db.readMeta()
	if err != nil {
		return rep, err
	}
	if m.fresh {
		return rep, errorf(ErrCorrupt, "%s is not an executor database (it has no %q bucket); it was left untouched", path, bucketMeta)
	}
	if err := m.usable(path); err != nil {
		return rep, err
	}
	check, next := m.check, m.next
	oldS, err := newSealer(oldKey, m.salt)
	if err != nil {
		return rep, err
	}
	newS, err := newSealer(newKey, m.salt)
	if err != nil {
		return rep, err
	}
	if !opensKeyCheck(oldS, metaKeyCheck, check) {
		if next == nil && opensKeyCheck(newS, metaKeyCheck, check) {
			rep.WasRotated = true
			return rep, nil
		}
		return rep, errorf(ErrWrongKey, "the old secret key is not the key of %s; nothing was changed", path)
	}
	if next != nil && !opensKeyCheck(newS, metaNextKeyCheck, next) {
		return rep, errorf(ErrWrongKey, "an unfinished rotation of %s was to another new key; nothing was changed: run rotate-key with that new key to finish it first", path)
	}
	// A value under neither key could never be re-sealed: refuse before
	// writing anything, while the old key still opens the database.
	err = db.bolt.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte(bucketSecrets))
		if bk == nil {
			return nil
		}
		return bk.ForEach(func(k, blob []byte) error {
			if id := keyIDOf(blob); !bytes.Equal(id, oldS.keyID[:]) && !bytes.Equal(id, newS.keyID[:]) {
				b, record, field, _ := splitSecretKey(string(k))
				return errorf(ErrCorrupt, "the secret %s/%s/%s of %s is sealed under neither key (key id %x); nothing was changed: start the gateway with the old key, remove it (delete and re-create its connection), then run rotate-key again", b, record, field, path, id)
			}
			return nil
		})
	})
	if err != nil {
		return rep, err
	}
	if next == nil {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Put([]byte(metaNextKeyCheck), newS.seal(bucketMeta, metaNextKeyCheck, "v1", []byte(keyCheckPlaintext)))
		})
		if err != nil {
			return rep, fmt.Errorf("starting the rotation of %s (nothing was changed): %w", path, err)
		}
	}

	// Re-seal in batches, each its own transaction, walking the keys in order.
	// bbolt's cursors must not be used across a Put: each batch collects its
	// entries first, then writes.
	after := ""
	for {
		var last string
		var resealed, already int
		done := false
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			last, resealed, already, done = "", 0, 0, false
			bk := tx.Bucket([]byte(bucketSecrets))
			if bk == nil {
				done = true
				return nil
			}
			type entry struct{ k, blob []byte }
			var batch []entry
			c := bk.Cursor()
			k, blob := c.Seek([]byte(after))
			if after != "" && k != nil && string(k) == after {
				k, blob = c.Next()
			}
			for ; k != nil && len(batch) < opts.BatchSize; k, blob = c.Next() {
				batch = append(batch, entry{clone(k), clone(blob)})
			}
			done = k == nil
			for _, e := range batch {
				last = string(e.k)
				b, record, field, ok := splitSecretKey(last)
				if !ok {
					return errorf(ErrCorrupt, "the secrets of %s hold a malformed entry %q", path, e.k)
				}
				switch id := keyIDOf(e.blob); {
				case bytes.Equal(id, newS.keyID[:]):
					already++
				case bytes.Equal(id, oldS.keyID[:]):
					pt, err := oldS.open(b, record, field, e.blob)
					if err != nil {
						return err
					}
					sealed := newS.seal(b, record, field, pt)
					clear(pt)
					if err := bk.Put(e.k, sealed); err != nil {
						return fmt.Errorf("re-sealing %s/%s/%s: %w", b, record, field, err)
					}
					resealed++
				default:
					return errorf(ErrCorrupt, "the secret %s/%s/%s of %s is sealed under neither key (key id %x); remove it (delete and re-create its connection), then run rotate-key again", b, record, field, path, id)
				}
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("rotating the secret key of %s (%d values re-sealed so far; run rotate-key again to resume): %w", path, rep.Resealed, err)
		}
		rep.Resealed += resealed
		rep.AlreadyNew += already
		if opts.afterBatch != nil {
			opts.afterBatch(rep.Resealed)
		}
		if done || last == "" {
			break
		}
		after = last
	}

	// Every value is under the new key: make it the database's key.
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		if bk := tx.Bucket([]byte(bucketSecrets)); bk != nil {
			err := bk.ForEach(func(k, blob []byte) error {
				if !bytes.Equal(keyIDOf(blob), newS.keyID[:]) {
					return errorf(ErrCorrupt, "the secret %q of %s is still not sealed under the new key", strings.ReplaceAll(string(k), "\x00", "/"), path)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		meta := tx.Bucket([]byte(bucketMeta))
		if err := meta.Put([]byte(metaKeyCheck), newS.seal(bucketMeta, metaKeyCheck, "v1", []byte(keyCheckPlaintext))); err != nil {
			return err
		}
		return meta.Delete([]byte(metaNextKeyCheck))
	})
	if err != nil {
		return rep, fmt.Errorf("finishing the rotation of %s (run rotate-key again to retry): %w", path, err)
	}
	return rep, nil
}

// keyIDOf returns the key id in a sealed value's header, or nil.
func keyIDOf(blob []byte) []byte {
	if len(blob) < headerLen || blob[0] != formatV1 {
		return nil
	}
	return blob[1 : 1+keyIDLen]
}

// splitSecretKey is the inverse of secretKey.
func splitSecretKey(k string) (b Bucket, record, field string, ok bool) {
	parts := strings.Split(k, "\x00")
	if len(parts) != 3 {
		return "", "", "", false
	}
	return Bucket(parts[0]), parts[1], parts[2], true
}
