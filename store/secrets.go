package store

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sealed values (security.md §5.1).
//
// The record key is HKDF-SHA256(ikm = secret key, salt = install salt,
// info = hkdfInfo). A sealed value (blob) is
//
//	version (1 byte, 0x01) || key id (4 bytes) || nonce (24 bytes) || ciphertext || tag (16 bytes)
//
// sealed with XChaCha20-Poly1305 under a random nonce. The key id is the first
// four bytes of SHA-256 of the record key, so a value sealed under another key
// is reported as such instead of as tampering. The associated data is
//
//	"executor/secret/v1" 0x00 version keyid 0x00 bucket 0x00 record 0x00 field
//
// Names cannot contain 0x00, so the associated data reads only one way; it
// binds the value to its place (no swapping values between records) and the
// header to the value (no downgrade to another version or key).
const (
	formatV1  = 0x01
	keyIDLen  = 4
	headerLen = 1 + keyIDLen + chacha20poly1305.NonceSizeX
	saltLen   = 32
	hkdfInfo  = "executor/secrets/v1"
	aadLabel  = "executor/secret/v1"
)

type sealer struct {
	aead  cipher.AEAD
	keyID [keyIDLen]byte
}

func newSealer(secretKey string, salt []byte) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, []byte(secretKey), salt, hkdfInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("store: deriving the secrets key: %w", err)
	}
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("store: creating the secrets cipher: %w", err)
	}
	s := &sealer{aead: aead}
	sum := sha256.Sum256(key)
	copy(s.keyID[:], sum[:keyIDLen])
	return s, nil
}

func additionalData(version byte, keyID []byte, b Bucket, record, field string) []byte {
	ad := make([]byte, 0, len(aadLabel)+len(keyID)+len(b)+len(record)+len(field)+5)
	ad = append(ad, aadLabel...)
	ad = append(ad, 0, version)
	ad = append(ad, keyID...)
	ad = append(ad, 0)
	ad = append(ad, b...)
	ad = append(ad, 0)
	ad = append(ad, record...)
	ad = append(ad, 0)
	ad = append(ad, field...)
	return ad
}

func (s *sealer) seal(b Bucket, record, field string, plaintext []byte) []byte {
	blob := make([]byte, headerLen, headerLen+len(plaintext)+s.aead.Overhead())
	blob[0] = formatV1
	copy(blob[1:], s.keyID[:])
	nonce := blob[1+keyIDLen : headerLen]
	// Random nonces, never counters: a counter can repeat after a restore.
	_, _ = rand.Read(nonce) // never fails (crypto/rand crashes the program instead)
	return s.aead.Seal(blob, nonce, plaintext, additionalData(formatV1, s.keyID[:], b, record, field))
}

// open authenticates and decrypts blob as the value of field of record in b.
// Its errors never contain any part of the blob or the plaintext.
func (s *sealer) open(b Bucket, record, field string, blob []byte) ([]byte, error) {
	if len(blob) < headerLen+s.aead.Overhead() {
		return nil, errorf(ErrCorrupt, "store: sealed value %s/%s/%s is truncated (%d bytes)", b, record, field, len(blob))
	}
	if blob[0] != formatV1 {
		return nil, errorf(ErrCorrupt, "store: sealed value %s/%s/%s has format version %d, which this build does not know; upgrade executor", b, record, field, blob[0])
	}
	keyID := blob[1 : 1+keyIDLen]
	if !bytes.Equal(keyID, s.keyID[:]) {
		return nil, errorf(ErrWrongKey, "store: sealed value %s/%s/%s was sealed under key id %x, not this database's key %x; store the secret again", b, record, field, keyID, s.keyID)
	}
	pt, err := s.aead.Open(nil, blob[1+keyIDLen:headerLen], blob[headerLen:], additionalData(blob[0], keyID, b, record, field))
	if err != nil {
		return nil, errorf(ErrCorrupt, "store: sealed value %s/%s/%s failed authentication (modified, truncated, or copied from another record); store the secret again", b, record, field)
	}
	return pt, nil
}

// secretKey is the key of a sealed value in the secrets bucket.
func secretKey(b Bucket, record, field string) string {
	return string(b) + "\x00" + record + "\x00" + field
}

func checkSecretName(b Bucket, record, field string, needField bool) error {
	if err := checkBucket(b); err != nil {
		return err
	}
	if record == "" || (needField && field == "") {
		return fmt.Errorf("store: secret %s/%q/%q: record and field names must not be empty", b, record, field)
	}
	if strings.IndexByte(record, 0) >= 0 || strings.IndexByte(field, 0) >= 0 {
		return fmt.Errorf("store: secret %s/%q/%q: names must not contain a 0x00 byte", b, record, field)
	}
	return nil
}

func (t *tx) PutSecret(b Bucket, record, field string, plaintext []byte) error {
	if t.done {
		return errTxDone
	}
	if !t.tx.Writable() {
		return errReadOnly
	}
	if err := checkSecretName(b, record, field, true); err != nil {
		return t.fail(err)
	}
	bk, err := t.writable(bucketSecrets, true)
	if err != nil {
		return err
	}
	t.mark(b)
	blob := t.sealer.seal(b, record, field, plaintext)
	if err := bk.Put([]byte(secretKey(b, record, field)), blob); err != nil {
		return t.fail(fmt.Errorf("store: writing secret %s/%s/%s: %w", b, record, field, err))
	}
	return nil
}

func (t *tx) Secret(b Bucket, record, field string) ([]byte, error) {
	if t.done {
		return nil, errTxDone
	}
	if err := checkSecretName(b, record, field, true); err != nil {
		return nil, err
	}
	var blob []byte
	if bk := t.tx.Bucket([]byte(bucketSecrets)); bk != nil {
		blob = bk.Get([]byte(secretKey(b, record, field)))
	}
	if blob == nil {
		return nil, errorf(ErrNotFound, "store: no secret %s/%s/%s", b, record, field)
	}
	return t.sealer.open(b, record, field, blob)
}

func (t *tx) DeleteSecrets(b Bucket, record string) error {
	if t.done {
		return errTxDone
	}
	if !t.tx.Writable() {
		return errReadOnly
	}
	if err := checkSecretName(b, record, "", false); err != nil {
		return t.fail(err)
	}
	t.mark(b)
	bk := t.tx.Bucket([]byte(bucketSecrets))
	if bk == nil {
		return nil
	}
	// Collect first: deleting under a bbolt cursor skips keys.
	prefix := []byte(secretKey(b, record, ""))
	var keys [][]byte
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, clone(k))
	}
	for _, k := range keys {
		if err := bk.Delete(k); err != nil {
			return t.fail(fmt.Errorf("store: deleting secrets of %s/%s: %w", b, record, err))
		}
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return b
}
