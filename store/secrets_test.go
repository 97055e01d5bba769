package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

const sentinel = "SENTINEL-7f3a-do-not-log"

// rawSecret returns the stored blob of a secret, read past the Tx interface.
func rawSecret(t *testing.T, db *DB, b Bucket, record, field string) []byte {
	t.Helper()
	var blob []byte
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		blob = clone(tx.Bucket([]byte(bucketSecrets)).Get([]byte(secretKey(b, record, field))))
		return nil
	})
	if blob == nil {
		t.Fatalf("no blob for %s/%s/%s", b, record, field)
	}
	return blob
}

// setRawSecret stores blob as the secret b/record/field, bypassing sealing.
func setRawSecret(t *testing.T, db *DB, b Bucket, record, field string, blob []byte) {
	t.Helper()
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketSecrets)).Put([]byte(secretKey(b, record, field)), blob)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readSecret(db *DB, b Bucket, record, field string) (pt []byte, err error) {
	_ = db.View(func(tx Tx) error {
		pt, err = tx.Secret(b, record, field)
		return nil
	})
	return pt, err
}

func putSecret(t *testing.T, db *DB, b Bucket, record, field, value string) {
	t.Helper()
	if err := db.Update(func(tx Tx) error { return tx.PutSecret(b, record, field, []byte(value)) }); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsRoundTrip(t *testing.T) {
	db := openTest(t)
	cases := []struct{ name, record, field, value string }{
		{"a token", "conn-1", "access_token", sentinel},
		{"an empty value", "conn-1", "empty", ""},
		{"a large value", "conn-2", "blob", strings.Repeat("x", 1<<20)},
		{"binary bytes", "conn-3", "key", "\x00\x01\xff\xfe"},
		{"unicode names", "connexión", "jeton-d’accès", "valeur"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			putSecret(t, db, Connections, tc.record, tc.field, tc.value)
			got, err := readSecret(db, Connections, tc.record, tc.field)
			if err != nil || string(got) != tc.value {
				t.Fatalf("Secret = %d bytes, %v; want the %d bytes stored", len(got), err, len(tc.value))
			}
			if blob := rawSecret(t, db, Connections, tc.record, tc.field); tc.value != "" && bytes.Contains(blob, []byte(tc.value)) {
				t.Error("the stored blob contains the plaintext")
			}
		})
	}
}

func TestTheDatabaseFileHoldsNoPlaintextSecret(t *testing.T) {
	db := openTest(t)
	putSecret(t, db, Connections, "conn", "token", sentinel)
	path := db.Path()
	db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(sentinel)) {
		t.Error("the sentinel secret appears in the database file")
	}
	// security.md I8: nor does the key they are sealed under.
	if bytes.Contains(raw, []byte(testKey)) {
		t.Error("the secret key appears in the database file")
	}
}

func TestAbsentSecretsAreErrNotFound(t *testing.T) {
	db := openTest(t)
	putSecret(t, db, Connections, "conn", "token", "v")
	for _, c := range [][3]string{{"connections", "conn", "other"}, {"connections", "other", "token"}, {"tools", "conn", "token"}} {
		if _, err := readSecret(db, Bucket(c[0]), c[1], c[2]); !errors.Is(err, ErrNotFound) {
			t.Errorf("Secret(%q) = %v, want ErrNotFound", c, err)
		}
	}
}

func TestEverySingleByteFlipOfASealedValueFails(t *testing.T) {
	db := openTest(t)
	putSecret(t, db, Connections, "conn", "token", sentinel)
	blob := rawSecret(t, db, Connections, "conn", "token")
	for i := range blob {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			flipped := clone(blob)
			flipped[i] ^= mask
			setRawSecret(t, db, Connections, "conn", "token", flipped)
			pt, err := readSecret(db, Connections, "conn", "token")
			if err == nil {
				t.Fatalf("byte %d ^ %#x: Secret succeeded with %q", i, mask, pt)
			}
			if pt != nil {
				t.Fatalf("byte %d ^ %#x: Secret returned bytes with its error", i, mask)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongKey) {
				t.Fatalf("byte %d ^ %#x: err = %v, want ErrCorrupt or ErrWrongKey", i, mask, err)
			}
			if strings.Contains(err.Error(), sentinel) {
				t.Fatalf("the error contains the plaintext: %v", err)
			}
		}
	}
	setRawSecret(t, db, Connections, "conn", "token", blob)
	if pt, err := readSecret(db, Connections, "conn", "token"); err != nil || string(pt) != sentinel {
		t.Errorf("the original blob no longer opens: %v", err)
	}
}

func TestATruncatedSealedValueFails(t *testing.T) {
	db := openTest(t)
	putSecret(t, db, Connections, "conn", "token", sentinel)
	blob := rawSecret(t, db, Connections, "conn", "token")
	for n := range len(blob) {
		setRawSecret(t, db, Connections, "conn", "token", blob[:n])
		if pt, err := readSecret(db, Connections, "conn", "token"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("blob cut to %d of %d bytes: Secret = %q, %v; want ErrCorrupt", n, len(blob), pt, err)
		}
	}
	setRawSecret(t, db, Connections, "conn", "token", append(clone(blob), 0))
	if _, err := readSecret(db, Connections, "conn", "token"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("blob with a byte appended: err = %v, want ErrCorrupt", err)
	}
}

func TestASealedValueMovedToAnotherPlaceFails(t *testing.T) {
	db := openTest(t)
	putSecret(t, db, Connections, "alice", "token", sentinel)
	blob := rawSecret(t, db, Connections, "alice", "token")
	cases := []struct {
		name          string
		b             Bucket
		record, field string
	}{
		{"another record", Connections, "mallory", "token"},
		{"another field", Connections, "alice", "refresh_token"},
		{"another bucket", Integrations, "alice", "token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setRawSecret(t, db, tc.b, tc.record, tc.field, blob)
			pt, err := readSecret(db, tc.b, tc.record, tc.field)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Secret of a blob moved to %s/%s/%s = %q, %v; want ErrCorrupt", tc.b, tc.record, tc.field, pt, err)
			}
		})
	}
}

func TestUnknownFormatVersionOrKeyIDIsAnExplicitError(t *testing.T) {
	db := openTest(t)
	putSecret(t, db, Connections, "conn", "token", sentinel)
	blob := rawSecret(t, db, Connections, "conn", "token")

	v2 := clone(blob)
	v2[0] = 0x02
	setRawSecret(t, db, Connections, "conn", "token", v2)
	if _, err := readSecret(db, Connections, "conn", "token"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "format version 2") {
		t.Errorf("version 2 blob: err = %v, want ErrCorrupt naming the version", err)
	}

	otherKey := clone(blob)
	otherKey[1] ^= 0x55
	setRawSecret(t, db, Connections, "conn", "token", otherKey)
	if _, err := readSecret(db, Connections, "conn", "token"); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "key id") {
		t.Errorf("blob with another key id: err = %v, want ErrWrongKey naming the key id", err)
	}
}

func TestAValueSealedUnderAnotherKeyIsErrWrongKey(t *testing.T) {
	db := openTest(t)
	salt := randomBytes(saltLen)
	other, _ := newSealer("another-secret-key-0123456789", salt)
	setRawSecret(t, db, Connections, "conn", "token", other.seal(Connections, "conn", "token", []byte(sentinel)))
	if _, err := readSecret(db, Connections, "conn", "token"); !errors.Is(err, ErrWrongKey) {
		t.Errorf("err = %v, want ErrWrongKey", err)
	}
}

func TestSealingUsesAFreshNonceEveryTime(t *testing.T) {
	s, err := newSealer(testKey, randomBytes(saltLen))
	if err != nil {
		t.Fatal(err)
	}
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	seen := make(map[[24]byte]struct{}, n)
	pt := []byte("same plaintext, same place")
	for i := range n {
		blob := s.seal(Connections, "conn", "token", pt)
		nonce := [24]byte(blob[1+keyIDLen : headerLen])
		if _, dup := seen[nonce]; dup {
			t.Fatalf("nonce repeated after %d seals", i)
		}
		seen[nonce] = struct{}{}
	}
}

func TestAdditionalDataReadsOnlyOneWay(t *testing.T) {
	// Names cannot contain 0x00, so moving a separator changes the bytes.
	a := additionalData(formatV1, []byte{1, 2, 3, 4}, "b", "r\x01x", "f")
	b := additionalData(formatV1, []byte{1, 2, 3, 4}, "b", "r", "\x01xf")
	if bytes.Equal(a, b) {
		t.Error("two different names give the same associated data")
	}
	db := openTest(t)
	for _, name := range []string{"", "a\x00b"} {
		_ = db.Update(func(tx Tx) error {
			if err := tx.PutSecret(Connections, name, "f", nil); err == nil {
				t.Errorf("PutSecret accepted record name %q", name)
			}
			if err := tx.PutSecret(Connections, "r", name, nil); err == nil {
				t.Errorf("PutSecret accepted field name %q", name)
			}
			return nil
		})
	}
}

func TestDeleteSecretsRemovesEveryFieldOfOneRecordOnly(t *testing.T) {
	db := openTest(t)
	putSecret(t, db, Connections, "conn", "access_token", "a")
	putSecret(t, db, Connections, "conn", "refresh_token", "r")
	putSecret(t, db, Connections, "conn2", "access_token", "keep") // a record whose name extends "conn"
	putSecret(t, db, Integrations, "conn", "access_token", "keep") // same record name, other bucket
	if err := db.Update(func(tx Tx) error { return tx.DeleteSecrets(Connections, "conn") }); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"access_token", "refresh_token"} {
		if _, err := readSecret(db, Connections, "conn", f); !errors.Is(err, ErrNotFound) {
			t.Errorf("conn/%s after DeleteSecrets: %v, want ErrNotFound", f, err)
		}
	}
	for _, b := range []Bucket{Connections, Integrations} {
		rec := map[Bucket]string{Connections: "conn2", Integrations: "conn"}[b]
		if pt, err := readSecret(db, b, rec, "access_token"); err != nil || string(pt) != "keep" {
			t.Errorf("%s/%s was touched: %q, %v", b, rec, pt, err)
		}
	}
}

func TestSecretErrorsNeverContainThePlaintext(t *testing.T) {
	db := openTest(t)
	putSecret(t, db, Connections, "conn", "token", sentinel)
	blob := rawSecret(t, db, Connections, "conn", "token")
	var msgs []string
	for _, damage := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		func(b []byte) []byte { return b[:10] },
		func(b []byte) []byte { b[0] = 9; return b },
		func(b []byte) []byte { b[2] ^= 1; return b },
	} {
		setRawSecret(t, db, Connections, "conn", "token", damage(clone(blob)))
		_, err := readSecret(db, Connections, "conn", "token")
		msgs = append(msgs, fmt.Sprint(err))
	}
	for _, m := range msgs {
		if strings.Contains(m, sentinel) || strings.Contains(m, fmt.Sprintf("%x", sentinel)) {
			t.Errorf("error leaks the plaintext: %s", m)
		}
	}
}
