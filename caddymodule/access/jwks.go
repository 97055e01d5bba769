package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// RSA moduli outside this range are not installed: below is too weak, above only
// makes verification slow.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// verifyKey is one installed public key.
type verifyKey struct {
	alg string // the JWK's own alg, "" if it has none
	pub any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// keySet is an immutable snapshot of the installed keys, swapped atomically.
type keySet struct {
	byKID   map[string]verifyKey
	fetched time.Time // by Config.Now, for MaxStale
}

// keyFits reports whether pub can verify signatures made with alg.
func keyFits(alg string, pub any) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(k) == ed25519.PublicKeySize
	}
	return false
}

// droppedKey records why a JWK was not installed, for the log.
type droppedKey struct {
	kid, why string
}

// parseKeySet decodes a JWKS document and keeps only keys that can verify one of
// algs: asymmetric, meant for signatures, with a kid, RSA within bounds. Members
// other than "keys" (Cloudflare's public_cert and public_certs) are ignored. A kid
// that appears twice is dropped altogether rather than guessed between.
func parseKeySet(body []byte, algs []string) (map[string]verifyKey, []droppedKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`JWKS has no "keys" array`)
	}
	keys := make(map[string]verifyKey, len(doc.Keys))
	seen := make(map[string]int, len(doc.Keys))
	var dropped []droppedKey
	for i, raw := range doc.Keys {
		kid, k, why := parseKey(raw, algs)
		if why != "" {
			if kid == "" {
				kid = fmt.Sprintf("#%d", i)
			}
			dropped = append(dropped, droppedKey{kid, why})
			continue
		}
		seen[kid]++
		keys[kid] = k
	}
	for kid, n := range seen {
		if n > 1 {
			delete(keys, kid)
			dropped = append(dropped, droppedKey{kid, "kid appears more than once"})
		}
	}
	if len(keys) == 0 {
		return nil, dropped, errors.New("JWKS has no usable signing key")
	}
	return keys, dropped, nil
}

// parseKey returns the kid and key of one JWK, or why it is not installed.
func parseKey(raw json.RawMessage, algs []string) (kid string, k verifyKey, why string) {
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return "", k, "not a valid JWK"
	}
	kid, _ = key.KeyID()
	if kid == "" {
		return "", k, "no kid"
	}
	if !validKID(kid) {
		return "", k, "kid longer than 256 bytes or not printable ASCII"
	}
	switch kty := key.KeyType().String(); kty {
	case "RSA", "EC", "OKP":
	default:
		return kid, k, fmt.Sprintf("kty %q is not an asymmetric signing key", kty)
	}
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return kid, k, fmt.Sprintf("use %q is not sig", use)
	}
	if ops, ok := key.KeyOps(); ok && !slices.Contains(ops, jwk.KeyOpVerify) {
		return kid, k, "key_ops does not include verify"
	}
	pubKey, err := key.PublicKey()
	if err != nil {
		return kid, k, "no public key"
	}
	var pub any
	if err := jwk.Export(pubKey, &pub); err != nil {
		return kid, k, "public key cannot be exported"
	}
	if r, ok := pub.(*rsa.PublicKey); ok {
		if bits := r.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return kid, k, fmt.Sprintf("RSA modulus of %d bits is outside %d–%d", bits, minRSABits, maxRSABits)
		}
	}
	if a, ok := key.Algorithm(); ok {
		k.alg = a.String()
	}
	fits := false
	for _, alg := range algs {
		if (k.alg == "" || k.alg == alg) && keyFits(alg, pub) {
			fits = true
			break
		}
	}
	if !fits {
		return kid, k, "fits none of the allowed algorithms"
	}
	k.pub = pub
	return kid, k, ""
}

// fetchKeys downloads and parses the JWKS once, within ctx.
func (v *Verifier) fetchKeys(ctx context.Context) (map[string]verifyKey, error) {
	u := v.cfg.JWKSURL
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("loading JWKS from %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loading JWKS from %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loading JWKS from %s: status %s (redirects are not followed)", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.cfg.MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("loading JWKS from %s: %w", u, err)
	}
	if int64(len(body)) > v.cfg.MaxJWKSBytes {
		return nil, fmt.Errorf("loading JWKS from %s: body exceeds %d bytes", u, v.cfg.MaxJWKSBytes)
	}
	keys, dropped, err := parseKeySet(body, v.cfg.Algorithms)
	for _, d := range dropped {
		v.cfg.Logger.Warn("access: JWKS key not installed", "jwks_url", u, "kid", d.kid, "why", d.why)
	}
	if err != nil {
		return nil, fmt.Errorf("loading JWKS from %s: %w", u, err)
	}
	return keys, nil
}

// defaultHTTPClient fetches the JWKS without proxies, keep-alive or redirects:
// the key set must come from exactly the configured URL.
func defaultHTTPClient(timeout time.Duration) (*http.Client, *http.Transport) {
	t := &http.Transport{}
	if def, ok := http.DefaultTransport.(*http.Transport); ok {
		t = def.Clone() // keep the standard dial and TLS timeouts
	}
	t.Proxy = nil
	t.DisableKeepAlives = true
	return &http.Client{
		Timeout:   timeout,
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, t
}
