package access

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// Test tokens imitate Cloudflare's: team acme, a 64-hex AUD tag, 64-hex kids.
const (
	testTeam    = "acme.cloudflareaccess.com"
	testIssuer  = "https://acme.cloudflareaccess.com"
	testAUD     = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
	consoleAUD  = "9d3a1f7c5b2e48a6b0c4d8e2f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5"
	mainKID     = "a9f6c2b5e8d14a7c9b3e6f0d2a5c8b1e4f7a0d3c6b9e2f5a8d1c4b7e0a3f6c9b"
	rotatedKID  = "0b1e4f7a2d5c8b3e6f9a1d4c7b0e3f6a9c2d5b8e1f4a7c0d3b6e9f2a5c8d1b4e"
	testSubject = "7335d417-61da-459d-899c-0a01c76a2f94"
	testEmail   = "ada@example.com"
	serviceCN   = "e367a5b4d0c1f2e3.access"
)

// testKeys are generated once per test binary: RSA-2048 generation is slow.
type testKeys struct {
	rsa      *rsa.PrivateKey // in the JWKS as mainKID
	rotated  *rsa.PrivateKey // published later as rotatedKID
	attacker *rsa.PrivateKey // never published
	weak     *rsa.PrivateKey // 1024 bits: must never be installed
	ec256    *ecdsa.PrivateKey
	ec384    *ecdsa.PrivateKey
	ed       ed25519.PrivateKey
}

var fixtureKeys = sync.OnceValue(func() *testKeys {
	must := func(k *rsa.PrivateKey, err error) *rsa.PrivateKey {
		if err != nil {
			panic(err)
		}
		return k
	}
	k := &testKeys{
		rsa:      must(rsa.GenerateKey(rand.Reader, 2048)),
		rotated:  must(rsa.GenerateKey(rand.Reader, 2048)),
		attacker: must(rsa.GenerateKey(rand.Reader, 2048)),
		weak:     must(rsa.GenerateKey(rand.Reader, 1024)),
	}
	var err error
	if k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// testClock is an injectable, goroutine-safe clock.
type testClock struct{ ns atomic.Int64 }

var testEpoch = time.Unix(1_800_000_000, 0)

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(testEpoch.UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var discardLogger = slog.New(slog.DiscardHandler)

// jwkJSON renders pub as a JWK with kid and the extra members given (alg, use...);
// a nil value removes a member.
func jwkJSON(t testing.TB, pub any, kid string, extra map[string]any) json.RawMessage {
	t.Helper()
	var m map[string]any
	if r, ok := pub.(*rsa.PublicKey); ok {
		// By hand, because jwk.Import refuses the weak key the tests must publish.
		m = map[string]any{"kty": "RSA", "n": enc(r.N.Bytes()), "e": enc(big.NewInt(int64(r.E)).Bytes())}
	} else {
		k, err := jwk.Import(pub)
		if err != nil {
			t.Fatalf("importing key: %v", err)
		}
		raw, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
	}
	if kid != "" {
		m["kid"] = kid
	}
	for name, v := range extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cloudflareJWK is a key as Cloudflare publishes it: RSA, alg RS256, use sig.
func cloudflareJWK(t testing.TB, k *rsa.PrivateKey, kid string) json.RawMessage {
	return jwkJSON(t, &k.PublicKey, kid, map[string]any{"alg": "RS256", "use": "sig"})
}

// jwksDoc is a JWKS with Cloudflare's extra public_cert(s) members, which must be ignored.
func jwksDoc(t testing.TB, keys ...json.RawMessage) []byte {
	t.Helper()
	if keys == nil {
		keys = []json.RawMessage{}
	}
	doc, err := json.Marshal(map[string]any{
		"keys":         keys,
		"public_cert":  map[string]string{"kid": "x", "cert": "-----BEGIN CERTIFICATE-----\nnot used\n-----END CERTIFICATE-----\n"},
		"public_certs": []map[string]string{{"kid": "x", "cert": "not used"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// jwksServer is a JWKS endpoint on 127.0.0.1 whose behaviour a test can switch,
// counting every request it receives.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64

	mu      sync.Mutex
	handler http.HandlerFunc
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serve(body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		h := s.handler
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) certsURL() string { return s.URL + "/cdn-cgi/access/certs" }

func (s *jwksServer) setHandler(h http.HandlerFunc) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

// serve makes the server answer 200 with body.
func (s *jwksServer) serve(body []byte) {
	s.setHandler(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

// hang makes the server hold every request until the client gives up or release closes.
func (s *jwksServer) hang(release <-chan struct{}) {
	s.setHandler(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
}

// testConfig is the Cloudflare preset pointed at srv, with the test clock.
func testConfig(srv *jwksServer, clock *testClock) Config {
	cfg := CloudflareConfig(testTeam)
	cfg.JWKSURL = srv.certsURL()
	cfg.Now = clock.Now
	cfg.Logger = discardLogger
	cfg.FetchTimeout = 2 * time.Second
	return cfg
}

func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

func waitReady(t testing.TB, v *Verifier) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !v.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("verifier has no keys after 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readyVerifier serves the main Cloudflare key and returns a verifier that has loaded it.
func readyVerifier(t testing.TB, mutate func(*Config)) (*Verifier, *jwksServer, *testClock) {
	t.Helper()
	srv := newJWKSServer(t, jwksDoc(t, cloudflareJWK(t, fixtureKeys().rsa, mainKID)))
	clock := newTestClock()
	cfg := testConfig(srv, clock)
	if mutate != nil {
		mutate(&cfg)
	}
	v := newTestVerifier(t, cfg)
	waitReady(t, v)
	return v, srv, clock
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func encJSON(t testing.TB, v any) string {
	t.Helper()
	if raw, ok := v.([]byte); ok {
		return enc(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return enc(b)
}

// mint signs header.payload with key using the header's alg; a nil key gives an
// empty signature. payload may be []byte for raw, possibly invalid, JSON.
func mint(t testing.TB, key any, header map[string]any, payload any) string {
	t.Helper()
	input := encJSON(t, header) + "." + encJSON(t, payload)
	if key == nil {
		return input + "."
	}
	alg, _ := header["alg"].(string)
	sig, err := jwsbb.Sign(key, alg, []byte(input), nil)
	if err != nil {
		t.Fatalf("signing with %s: %v", alg, err)
	}
	return input + "." + enc(sig)
}

// hdr is a Cloudflare-like protected header.
func hdr(alg, kid string) map[string]any {
	return map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}
}

// userClaims is a Cloudflare user application token issued at now.
func userClaims(now time.Time) map[string]any {
	return map[string]any{
		"aud":            []string{testAUD},
		"email":          testEmail,
		"exp":            now.Add(time.Minute).Unix(),
		"iat":            now.Unix(),
		"nbf":            now.Unix(),
		"iss":            testIssuer,
		"type":           "app",
		"identity_nonce": "6ei69kawdKzMIAPF",
		"sub":            testSubject,
		"country":        "GB",
	}
}

// serviceClaims is a Cloudflare service-token application token issued at now.
func serviceClaims(now time.Time) map[string]any {
	return map[string]any{
		"aud":         []string{testAUD},
		"exp":         now.Add(time.Minute).Unix(),
		"iat":         now.Unix(),
		"iss":         testIssuer,
		"type":        "app",
		"sub":         "",
		"common_name": serviceCN,
	}
}

// with returns a copy of m with the pairs set; a nil value removes the member.
func with(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		name := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, name)
		} else {
			out[name] = kv[i+1]
		}
	}
	return out
}

// rawJSON marks a value to be embedded verbatim (e.g. null or a float).
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// countingServer counts requests; attacker URLs in token headers point at it.
func countingServer(t testing.TB) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		_, _ = io.WriteString(w, `{"keys":[]}`)
	}))
	t.Cleanup(s.Close)
	return s, &n
}

// segments splits a compact token.
func segments(tok string) (h, p, s string) {
	parts := strings.SplitN(tok, ".", 3)
	return parts[0], parts[1], parts[2]
}
