package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// seed stores key=value for every key, in one Update.
func seed(t *testing.T, db *DB, b Bucket, keys ...string) {
	t.Helper()
	err := db.Update(func(tx Tx) error {
		for _, k := range keys {
			if err := tx.Put(b, k, []byte("value of "+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestForEachVisitsKeysWithThePrefixInOrder(t *testing.T) {
	db := openTest(t)
	seed(t, db, Audit, "a", "a/1", "a/2", "a/10", "a\xff", "a\xff\xff", "ab", "b/1", "b/2", "\xff", "\xff\xff")
	stopAfter := func(n int) func(int) error {
		return func(i int) error {
			if i+1 == n {
				return ErrStop
			}
			return nil
		}
	}
	cases := []struct {
		name    string
		prefix  string
		reverse bool
		stop    func(visited int) error
		want    []string
	}{
		{"every key when the prefix is empty", "", false, nil,
			[]string{"a", "a/1", "a/10", "a/2", "ab", "a\xff", "a\xff\xff", "b/1", "b/2", "\xff", "\xff\xff"}},
		{"only keys with the prefix", "a/", false, nil, []string{"a/1", "a/10", "a/2"}},
		{"a key equal to the prefix", "ab", false, nil, []string{"ab"}},
		{"nothing for an absent prefix", "c", false, nil, nil},
		{"a prefix ending in 0xff", "a\xff", false, nil, []string{"a\xff", "a\xff\xff"}},
		{"stops at ErrStop", "a/", false, stopAfter(2), []string{"a/1", "a/10"}},
		{"reverse: every key", "", true, nil,
			[]string{"\xff\xff", "\xff", "b/2", "b/1", "a\xff\xff", "a\xff", "ab", "a/2", "a/10", "a/1", "a"}},
		{"reverse: only keys with the prefix", "a/", true, nil, []string{"a/2", "a/10", "a/1"}},
		{"reverse: the prefix is the last key", "b/2", true, nil, []string{"b/2"}},
		{"reverse: a prefix ending in 0xff", "a\xff", true, nil, []string{"a\xff\xff", "a\xff"}},
		{"reverse: a prefix of only 0xff", "\xff", true, nil, []string{"\xff\xff", "\xff"}},
		{"reverse: a prefix past every key", "z", true, nil, nil},
		{"reverse: stops at ErrStop (newest page of the log)", "", true, stopAfter(3), []string{"\xff\xff", "\xff", "b/2"}},
	}
	for _, tc := range cases {
		for _, writable := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/writable=%v", tc.name, writable), func(t *testing.T) {
				var got []string
				run := db.View
				if writable {
					run = db.Update
				}
				err := run(func(tx Tx) error {
					walk := tx.ForEach
					if tc.reverse {
						walk = tx.ForEachReverse
					}
					return walk(Audit, tc.prefix, func(k string, v []byte) error {
						if string(v) != "value of "+k {
							t.Errorf("value of %q = %q", k, v)
						}
						got = append(got, k)
						if tc.stop != nil {
							return tc.stop(len(got) - 1)
						}
						return nil
					})
				})
				if err != nil {
					t.Fatalf("walk returned %v", err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("visited %q, want %q", got, tc.want)
				}
				if !tc.reverse && tc.stop == nil {
					_ = db.View(func(tx Tx) error {
						if n, _ := tx.Count(Audit, tc.prefix); n != len(tc.want) {
							t.Errorf("Count(%q) = %d, want %d", tc.prefix, n, len(tc.want))
						}
						return nil
					})
				}
			})
		}
	}
}

func TestForEachReturnsAnErrorOtherThanErrStopUnchanged(t *testing.T) {
	db := openTest(t)
	seed(t, db, Audit, "a", "b")
	boom := errors.New("boom")
	err := db.View(func(tx Tx) error {
		return tx.ForEach(Audit, "", func(string, []byte) error { return boom })
	})
	if err != boom {
		t.Errorf("ForEach returned %v, want fn's error", err)
	}
	wrappedStop := db.View(func(tx Tx) error {
		return tx.ForEach(Audit, "", func(string, []byte) error { return fmt.Errorf("done: %w", ErrStop) })
	})
	if wrappedStop != nil {
		t.Errorf("ForEach with a wrapped ErrStop returned %v, want nil", wrappedStop)
	}
}

func TestForEachInAnUpdateMayDeleteAndPutAsItGoes(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reverse=%v", reverse), func(t *testing.T) {
			db := openTest(t)
			var keys []string
			for i := range 2000 { // several pages, so deletes rebalance nodes
				keys = append(keys, fmt.Sprintf("s/%05d", i))
			}
			seed(t, db, Sessions, keys...)
			seed(t, db, Sessions, "t/keep")
			visited := 0
			err := db.Update(func(tx Tx) error {
				walk := tx.ForEach
				if reverse {
					walk = tx.ForEachReverse
				}
				return walk(Sessions, "s/", func(k string, _ []byte) error {
					visited++
					if err := tx.Put(Sessions, "t/"+k, []byte("moved")); err != nil {
						return err
					}
					return tx.Delete(Sessions, k)
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if visited != len(keys) {
				t.Errorf("visited %d keys, want %d", visited, len(keys))
			}
			_ = db.View(func(tx Tx) error {
				if n, _ := tx.Count(Sessions, "s/"); n != 0 {
					t.Errorf("%d keys left after deleting each one as it was visited", n)
				}
				if n, _ := tx.Count(Sessions, "t/"); n != len(keys)+1 {
					t.Errorf("%d moved keys, want %d", n, len(keys)+1)
				}
				return nil
			})
		})
	}
}

func TestValuesReturnedAreCopiesOwnedByTheCaller(t *testing.T) {
	db := openTest(t)
	original := []byte("original value")
	put := slices.Clone(original)
	err := db.Update(func(tx Tx) error {
		if err := tx.Put(Tools, "k", put); err != nil {
			return err
		}
		clear(put) // the store must have kept its own copy
		return tx.PutSecret(Tools, "k", "f", []byte("secret"))
	})
	if err != nil {
		t.Fatal(err)
	}

	var got, visited, secret []byte
	_ = db.View(func(tx Tx) error {
		got = tx.Get(Tools, "k")
		_ = tx.ForEach(Tools, "", func(_ string, v []byte) error { visited = v; return nil })
		secret, _ = tx.Secret(Tools, "k", "f")
		return nil
	})
	// Writers run while the old slices are read and written: with the race
	// detector, and with bbolt remapping the file as it grows, any slice that
	// still pointed into the mmap would be caught here.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			_ = db.Update(func(tx Tx) error {
				return tx.Put(Tools, fmt.Sprintf("grow/%d", i), make([]byte, 16<<10))
			})
		}
	})
	for range 200 {
		for _, b := range [][]byte{got, visited, secret} {
			for i := range b {
				b[i] ^= 0xff
			}
		}
	}
	wg.Wait()
	_ = db.View(func(tx Tx) error {
		if v := tx.Get(Tools, "k"); string(v) != string(original) {
			t.Errorf("stored value became %q after the caller changed its copies", v)
		}
		if s, _ := tx.Secret(Tools, "k", "f"); string(s) != "secret" {
			t.Errorf("stored secret became %q", s)
		}
		return nil
	})
}

func TestJSONRoundTrip(t *testing.T) {
	db := openTest(t)
	type policy struct {
		Tool   string
		Action string
	}
	in := policy{"github.*", "approve"}
	if err := db.Update(func(tx Tx) error { return tx.PutJSON(Policies, "p1", in) }); err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx Tx) error {
		var out policy
		found, err := tx.GetJSON(Policies, "p1", &out)
		if !found || err != nil || out != in {
			t.Errorf("GetJSON = %v, %v, %+v", found, err, out)
		}
		found, err = tx.GetJSON(Policies, "absent", &out)
		if found || err != nil {
			t.Errorf("GetJSON of an absent key = %v, %v, want false, nil", found, err)
		}
		found, err = tx.GetJSON(Bucket("never-written"), "k", &out)
		if found || err != nil {
			t.Errorf("GetJSON in an absent bucket = %v, %v, want false, nil", found, err)
		}
		return nil
	})
	_ = db.Update(func(tx Tx) error { return tx.Put(Policies, "bad", []byte("{")) })
	_ = db.View(func(tx Tx) error {
		var out policy
		if found, err := tx.GetJSON(Policies, "bad", &out); !found || err == nil {
			t.Errorf("GetJSON of invalid JSON = %v, %v, want true and an error", found, err)
		}
		return nil
	})
}

func TestBucketsAreCreatedOnFirstWrite(t *testing.T) {
	db := openTest(t)
	custom := Bucket("approvals")
	_ = db.View(func(tx Tx) error {
		if v := tx.Get(custom, "k"); v != nil {
			t.Error("Get in a bucket that does not exist returned a value")
		}
		if n, err := tx.Count(custom, ""); n != 0 || err != nil {
			t.Errorf("Count in a bucket that does not exist = %d, %v", n, err)
		}
		return tx.ForEach(custom, "", func(string, []byte) error {
			t.Error("ForEach in a bucket that does not exist visited a key")
			return nil
		})
	})
	if err := db.Update(func(tx Tx) error { return tx.Delete(custom, "k") }); err != nil {
		t.Errorf("Delete in a bucket that does not exist: %v", err)
	}
	seed(t, db, custom, "k")
	_ = db.View(func(tx Tx) error {
		if v := tx.Get(custom, "k"); string(v) != "value of k" {
			t.Errorf("Get = %q", v)
		}
		return nil
	})
}

func TestReservedAndInvalidBucketNamesAreRefused(t *testing.T) {
	db := openTest(t)
	for _, b := range []Bucket{bucketMeta, bucketSecrets, "_mine", "", "a\x00b"} {
		err := db.Update(func(tx Tx) error {
			if v := tx.Get(b, metaSalt); v != nil {
				t.Errorf("Get(%q) returned data", b)
			}
			if err := tx.Put(b, "k", []byte("v")); err == nil {
				t.Errorf("Put(%q) succeeded", b)
			}
			if err := tx.PutSecret(b, "r", "f", []byte("v")); err == nil {
				t.Errorf("PutSecret(%q) succeeded", b)
			}
			if err := tx.ForEach(b, "", func(string, []byte) error { return nil }); err == nil {
				t.Errorf("ForEach(%q) succeeded", b)
			}
			return nil
		})
		if err == nil {
			t.Errorf("Update after a refused write to %q committed", b)
		}
	}
}

func TestNextSequenceKeysSortInNumericOrder(t *testing.T) {
	db := openTest(t)
	for range 12 {
		err := db.Update(func(tx Tx) error {
			n, err := tx.NextSequence(Audit)
			if err != nil {
				return err
			}
			return tx.Put(Audit, SequenceKey(n), []byte(fmt.Sprint(n)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A rolled-back Update hands its number out again.
	_ = db.Update(func(tx Tx) error { _, _ = tx.NextSequence(Audit); return errors.New("roll back") })
	var newest []string
	_ = db.Update(func(tx Tx) error {
		if n, _ := tx.NextSequence(Audit); n != 13 {
			t.Errorf("NextSequence after a rollback = %d, want 13", n)
		}
		return tx.ForEachReverse(Audit, "", func(_ string, v []byte) error {
			newest = append(newest, string(v))
			if len(newest) == 3 {
				return ErrStop
			}
			return nil
		})
	})
	if want := []string{"12", "11", "10"}; !slices.Equal(newest, want) {
		t.Errorf("newest three = %q, want %q", newest, want)
	}
}

func TestAnEmptyValueIsNotMistakenForAnAbsentOne(t *testing.T) {
	db := openTest(t)
	_ = db.Update(func(tx Tx) error {
		if err := tx.Put(Tools, "empty", []byte{}); err != nil {
			t.Fatal(err)
		}
		return tx.Put(Tools, "nil", nil)
	})
	_ = db.View(func(tx Tx) error {
		for _, k := range []string{"empty", "nil"} {
			if v := tx.Get(Tools, k); v == nil || len(v) != 0 {
				t.Errorf("Get(%q) = %#v, want a non-nil empty slice", k, v)
			}
		}
		if v := tx.Get(Tools, "absent"); v != nil {
			t.Errorf("Get of an absent key = %#v, want nil", v)
		}
		n := 0
		_ = tx.ForEach(Tools, "", func(k string, v []byte) error {
			if v == nil {
				t.Errorf("ForEach gave a nil value for %q", k)
			}
			n++
			return nil
		})
		if n != 2 {
			t.Errorf("ForEach visited %d empty values, want 2", n)
		}
		return nil
	})
}

func TestForEachInAnUpdateNeverVisitsAKeyDeletedAheadOfIt(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reverse=%v", reverse), func(t *testing.T) {
			db := openTest(t)
			var keys []string
			for i := range 1000 {
				keys = append(keys, fmt.Sprintf("%05d", i))
			}
			seed(t, db, Sessions, keys...)
			deleted := map[string]bool{}
			visited := 0
			err := db.Update(func(tx Tx) error {
				walk, step := tx.ForEach, 1
				if reverse {
					walk, step = tx.ForEachReverse, -1
				}
				return walk(Sessions, "", func(k string, _ []byte) error {
					if deleted[k] {
						t.Errorf("visited %s after deleting it", k)
					}
					visited++
					var i int
					fmt.Sscanf(k, "%d", &i)
					next := fmt.Sprintf("%05d", i+step) // the key the walk would visit next
					deleted[next] = true
					return tx.Delete(Sessions, next)
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if visited != 500 {
				t.Errorf("visited %d keys, want every other one of 1000", visited)
			}
		})
	}
}

func TestVersionChangesOnlyWhenAnUpdateThatWroteTheBucketCommits(t *testing.T) {
	db := openTest(t)
	fail := errors.New("fn failed")
	cases := []struct {
		name    string
		fn      func(Tx) error
		changes []Bucket // the buckets whose Version must change
	}{
		{"a Put", func(tx Tx) error { return tx.Put(Connections, "c", []byte("1")) }, []Bucket{Connections}},
		{"a PutJSON", func(tx Tx) error { return tx.PutJSON(Integrations, "i", map[string]int{"a": 1}) }, []Bucket{Integrations}},
		{"a Delete, even of an absent key", func(tx Tx) error { return tx.Delete(Connections, "absent") }, []Bucket{Connections}},
		{"a secret of a record", func(tx Tx) error { return tx.PutSecret(Connections, "c", "token", []byte("s")) }, []Bucket{Connections}},
		{"deleting a record's secrets", func(tx Tx) error { return tx.DeleteSecrets(Connections, "c") }, []Bucket{Connections}},
		{"writes to two buckets", func(tx Tx) error {
			return errors.Join(tx.Put(Integrations, "i", []byte("2")), tx.Put(Audit, "a", []byte("x")))
		}, []Bucket{Integrations, Audit}},
		{"an Update that only reads", func(tx Tx) error { tx.Get(Connections, "c"); return nil }, nil},
		{"an Update whose function fails", func(tx Tx) error {
			_ = tx.Put(Connections, "c", []byte("3"))
			return fail
		}, nil},
		{"an Update with a failed write", func(tx Tx) error {
			_ = tx.Put(Connections, "c", []byte("4"))
			_ = tx.Put("_meta", "x", nil) // reserved: fails the transaction
			return nil
		}, nil},
	}
	all := []Bucket{Integrations, Connections, Audit, Policies}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := map[Bucket]uint64{}
			for _, b := range all {
				before[b] = db.Version(b)
			}
			_ = db.Update(c.fn)
			for _, b := range all {
				changed := db.Version(b) != before[b]
				if want := slices.Contains(c.changes, b); changed != want {
					t.Errorf("Version(%s) changed: %v, want %v", b, changed, want)
				}
			}
		})
	}
	t.Run("a View", func(t *testing.T) {
		v := db.Version(Connections)
		_ = db.View(func(tx Tx) error { tx.Get(Connections, "c"); return nil })
		if db.Version(Connections) != v {
			t.Error("a View changed the version")
		}
	})
}

func TestVersionCountsEveryCommittedUpdateUnderConcurrency(t *testing.T) {
	db := openTest(t)
	before := db.Version(Connections)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := db.Update(func(tx Tx) error { return tx.Put(Connections, fmt.Sprint(w, "/", i), []byte("x")) }); err != nil {
					t.Error(err)
				}
				_ = db.Version(Connections)
			}
		}()
	}
	wg.Wait()
	if got := db.Version(Connections) - before; got != writers*each {
		t.Errorf("Version advanced by %d, want %d", got, writers*each)
	}
}
