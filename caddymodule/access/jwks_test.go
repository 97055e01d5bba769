package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// verifyReason verifies token against testAUD and returns "" or the Reason.
func verifyReason(t testing.TB, v *Verifier, token string) string {
	t.Helper()
	_, err := v.Verify(context.Background(), token, []string{testAUD})
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *Error", err)
	}
	return e.Reason
}

func wantReason(t testing.TB, v *Verifier, token, want string) {
	t.Helper()
	if got := verifyReason(t, v, token); got != want {
		t.Fatalf("reason = %q, want %q", got, want)
	}
}

func wantFetches(t testing.TB, srv *jwksServer, want int64) {
	t.Helper()
	if got := srv.fetches.Load(); got != want {
		t.Fatalf("JWKS fetched %d times, want %d", got, want)
	}
}

func tokenFor(t testing.TB, clock *testClock, key any, kid string) string {
	return mint(t, key, hdr("RS256", kid), userClaims(clock.Now()))
}

// A7: an unknown kid causes one fetch, then further unknown kids wait for MinRefetch.
func TestUnknownKIDCausesExactlyOneFetchThenRejects(t *testing.T) {
	v, srv, clock := readyVerifier(t, nil)
	wantFetches(t, srv, 1)
	k := fixtureKeys()

	wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), ReasonKidUnknown)
	wantFetches(t, srv, 2)
	wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), ReasonKidUnknown)
	wantReason(t, v, tokenFor(t, clock, k.rotated, "other"), ReasonKidUnknown)
	wantFetches(t, srv, 2)

	clock.Advance(DefaultMinRefetch - time.Second)
	wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), ReasonKidUnknown)
	wantFetches(t, srv, 2)

	clock.Advance(time.Second)
	wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), ReasonKidUnknown)
	wantFetches(t, srv, 3)
	wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), "")
	wantFetches(t, srv, 3)
}

// A35: a token signed with a newly published key is accepted after one refetch,
// and a key dropped from the JWKS stops working once the set is refreshed.
func TestRotatedKeyIsAcceptedAfterOneRefetch(t *testing.T) {
	v, srv, clock := readyVerifier(t, nil)
	k := fixtureKeys()
	srv.serve(jwksDoc(t, cloudflareJWK(t, k.rotated, rotatedKID)))

	wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), "")
	wantFetches(t, srv, 2)
	wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), "")
	wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), ReasonKidUnknown)
	wantFetches(t, srv, 2)
}

// A34: a flood of random kids costs at most one fetch per MinRefetch, and valid
// tokens keep being accepted meanwhile.
func TestRandomKIDFloodCausesAtMostOneFetch(t *testing.T) {
	v, srv, clock := readyVerifier(t, nil)
	k := fixtureKeys()
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = tokenFor(t, clock, k.attacker, fmt.Sprintf("random-%d-%d", i, time.Now().UnixNano()))
	}
	valid := tokenFor(t, clock, k.rsa, mainKID)

	var wg sync.WaitGroup
	errs := make(chan string, len(tokens)*2)
	for _, tok := range tokens {
		wg.Go(func() {
			if r := verifyReason(t, v, tok); r != ReasonKidUnknown {
				errs <- "random kid: " + r
			}
			if r := verifyReason(t, v, valid); r != "" {
				errs <- "valid token: " + r
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := srv.fetches.Load() - 1; n > 1 {
		t.Errorf("%d extra JWKS fetches for 50 random kids, want ≤ 1", n)
	}
}

// A30: with the JWKS unreachable at startup, Verify fails closed with no_keys,
// and the verifier recovers on its own once the endpoint answers.
func TestJWKSDownAtStartupFailsClosedAndRecovers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // connections are now refused

	clock := newTestClock()
	cfg := CloudflareConfig(testTeam)
	cfg.JWKSURL = "http://" + addr + "/cdn-cgi/access/certs"
	cfg.Now = clock.Now
	cfg.Logger = discardLogger
	cfg.MinRefetch = 200 * time.Millisecond // also caps the retry backoff
	start := time.Now()
	v := newTestVerifier(t, cfg)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("New took %v: it must not wait for the network", d)
	}
	k := fixtureKeys()
	token := tokenFor(t, clock, k.rsa, mainKID)
	wantReason(t, v, token, ReasonNoKeys)
	wantReason(t, v, token, ReasonNoKeys)
	if v.Ready() {
		t.Fatal("Ready with no keys")
	}

	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(jwksDoc(t, cloudflareJWK(t, k.rsa, mainKID)))
	}))
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)

	waitReady(t, v)
	wantReason(t, v, token, "")
}

// A31: a hung JWKS never delays tokens whose kid is cached; a token with an unknown
// kid waits at most about FetchTimeout, concurrent ones share the fetch, and a
// request whose context ends stops waiting.
func TestHungJWKSDoesNotBlockKnownKIDs(t *testing.T) {
	const fetchTimeout = 500 * time.Millisecond
	v, srv, clock := readyVerifier(t, func(c *Config) { c.FetchTimeout = fetchTimeout })
	release := make(chan struct{})
	defer close(release)
	srv.hang(release)
	k := fixtureKeys()
	valid := tokenFor(t, clock, k.rsa, mainKID)
	unknown := tokenFor(t, clock, k.rotated, rotatedKID)

	type result struct {
		reason string
		took   time.Duration
	}
	results := make(chan result, 5)
	for range 5 {
		go func() {
			start := time.Now()
			r := verifyReason(t, v, unknown)
			results <- result{r, time.Since(start)}
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for srv.fetches.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the unknown kid did not trigger a fetch")
		}
		time.Sleep(time.Millisecond)
	}

	start := time.Now()
	for range 10 {
		wantReason(t, v, valid, "")
	}
	if d := time.Since(start); d > fetchTimeout/2 {
		t.Errorf("10 cached-kid verifications took %v during a hung fetch", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := v.Verify(ctx, unknown, []string{testAUD})
	if d := time.Since(start); d > fetchTimeout/2 || !errors.Is(err, &Error{Reason: ReasonKidUnknown}) {
		t.Errorf("cancelled request: err %v after %v", err, d)
	}

	for range 5 {
		r := <-results
		if r.reason != ReasonKidUnknown {
			t.Errorf("unknown kid: reason %q", r.reason)
		}
		if r.took > fetchTimeout+time.Second {
			t.Errorf("unknown kid waited %v, FetchTimeout is %v", r.took, fetchTimeout)
		}
	}
	wantFetches(t, srv, 2)
	wantReason(t, v, valid, "")
}

// New must not wait for a JWKS that never answers, and Verify must not wait
// longer than FetchTimeout for it.
func TestNewDoesNotBlockOnHungJWKS(t *testing.T) {
	srv := newJWKSServer(t, nil)
	release := make(chan struct{})
	defer close(release)
	srv.hang(release)
	clock := newTestClock()
	cfg := testConfig(srv, clock)
	cfg.FetchTimeout = 300 * time.Millisecond
	start := time.Now()
	v := newTestVerifier(t, cfg)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("New took %v", d)
	}
	start = time.Now()
	wantReason(t, v, tokenFor(t, clock, fixtureKeys().rsa, mainKID), ReasonNoKeys)
	if d := time.Since(start); d > cfg.FetchTimeout+time.Second {
		t.Errorf("Verify waited %v with FetchTimeout %v", d, cfg.FetchTimeout)
	}
}

// A32: a JWKS response that is not a usable key set leaves the last good keys in
// place (stale-if-error); unusable keys are never installed; reads are capped.
func TestBadJWKSKeepsLastKnownGoodKeys(t *testing.T) {
	k := fixtureKeys()
	huge := bytes.Repeat([]byte(" "), 10<<20)
	copy(huge, `{"keys":[`)
	initialLen := len(jwksDoc(t, cloudflareJWK(t, k.rsa, mainKID)))
	cases := []struct {
		name   string
		status int
		body   func(t testing.TB) []byte
		capped bool // MaxJWKSBytes is exactly the size of the first, good JWKS
	}{
		{name: "HTML login page", body: func(testing.TB) []byte { return []byte("<!doctype html><title>Sign in</title>") }},
		{name: "empty object", body: func(testing.TB) []byte { return []byte(`{}`) }},
		{name: "empty key list", body: func(testing.TB) []byte { return []byte(`{"keys":[]}`) }},
		{name: "keys is an object", body: func(testing.TB) []byte { return []byte(`{"keys":{}}`) }},
		{name: "JSON null", body: func(testing.TB) []byte { return []byte(`null`) }},
		{name: "empty body", body: func(testing.TB) []byte { return nil }},
		{name: "10 MB body", body: func(testing.TB) []byte { return huge }},
		{name: "valid JWKS one byte over the cap", capped: true, body: func(t testing.TB) []byte {
			doc := jwksDoc(t, cloudflareJWK(t, k.rotated, rotatedKID))
			for len(doc) <= initialLen {
				doc = append(doc, ' ')
			}
			return doc
		}},
		{name: "only an oct key", body: func(testing.TB) []byte {
			return []byte(`{"keys":[{"kty":"oct","kid":"` + rotatedKID + `","alg":"HS256","k":"c2VjcmV0"}]}`)
		}},
		{name: "only an EC key under the RS256 preset", body: func(t testing.TB) []byte {
			return jwksDoc(t, jwkJSON(t, &k.ec256.PublicKey, rotatedKID, map[string]any{"alg": "ES256"}))
		}},
		{name: "only a 1024-bit RSA key", body: func(t testing.TB) []byte { return jwksDoc(t, cloudflareJWK(t, k.weak, rotatedKID)) }},
		{name: "only an encryption key", body: func(t testing.TB) []byte {
			return jwksDoc(t, jwkJSON(t, &k.rotated.PublicKey, rotatedKID, map[string]any{"use": "enc"}))
		}},
		{name: "only a key pinned to RS512", body: func(t testing.TB) []byte {
			return jwksDoc(t, jwkJSON(t, &k.rotated.PublicKey, rotatedKID, map[string]any{"alg": "RS512"}))
		}},
		{name: "only keys without kid", body: func(t testing.TB) []byte { return jwksDoc(t, cloudflareJWK(t, k.rotated, "")) }},
		{name: "status 500", status: http.StatusInternalServerError, body: func(t testing.TB) []byte { return jwksDoc(t, cloudflareJWK(t, k.rotated, rotatedKID)) }},
		{name: "status 404", status: http.StatusNotFound, body: func(t testing.TB) []byte { return jwksDoc(t, cloudflareJWK(t, k.rotated, rotatedKID)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, srv, clock := readyVerifier(t, func(c *Config) {
				if tc.capped {
					c.MaxJWKSBytes = int64(initialLen)
				}
			})
			body := tc.body(t)
			srv.setHandler(func(w http.ResponseWriter, _ *http.Request) {
				if tc.status != 0 {
					w.WriteHeader(tc.status)
				}
				_, _ = w.Write(body)
			})
			// The unknown kid forces the refetch; whatever came back, rotatedKID must not work.
			wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), ReasonKidUnknown)
			wantFetches(t, srv, 2)
			wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), "")
			if !v.Ready() {
				t.Error("not Ready after a failed refresh")
			}
		})
	}
}

// A33: a JWKS that redirects elsewhere is not followed, and the keys stay.
func TestJWKSRedirectIsNotFollowed(t *testing.T) {
	v, srv, clock := readyVerifier(t, nil)
	other, otherHits := countingServer(t)
	srv.setHandler(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/cdn-cgi/access/certs", http.StatusFound)
	})
	k := fixtureKeys()
	wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), ReasonKidUnknown)
	wantFetches(t, srv, 2)
	if n := otherHits.Load(); n != 0 {
		t.Errorf("redirect target fetched %d times", n)
	}
	wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), "")
}

// Keys that every refresh has failed to renew for MaxStale stop being trusted.
func TestStaleKeysExpireAfterMaxStale(t *testing.T) {
	v, srv, clock := readyVerifier(t, func(c *Config) { c.MaxStale = 2 * time.Hour })
	srv.setHandler(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	k := fixtureKeys()

	clock.Advance(2 * time.Hour)
	wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), "")
	clock.Advance(time.Second)
	if v.Ready() {
		t.Error("Ready with keys older than MaxStale")
	}
	wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), ReasonNoKeys)

	srv.serve(jwksDoc(t, cloudflareJWK(t, k.rsa, mainKID)))
	clock.Advance(DefaultMinRefetch)
	wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), "")
}

// Verify keeps using cached keys after Close but never fetches again.
func TestVerifyAfterCloseNeverFetches(t *testing.T) {
	v, srv, clock := readyVerifier(t, nil)
	v.Close()
	v.Close()
	k := fixtureKeys()
	wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), "")
	wantReason(t, v, tokenFor(t, clock, k.rotated, rotatedKID), ReasonKidUnknown)
	wantFetches(t, srv, 1)
}

// Close stops the refresher and any fetch in progress, and leaves no goroutine behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	k := fixtureKeys()
	srv := newJWKSServer(t, jwksDoc(t, cloudflareJWK(t, k.rsa, mainKID)))
	release := make(chan struct{})
	defer close(release)
	settle()
	before := runtime.NumGoroutine()

	for range 3 {
		clock := newTestClock()
		srv.serve(jwksDoc(t, cloudflareJWK(t, k.rsa, mainKID)))
		v, err := New(testConfig(srv, clock))
		if err != nil {
			t.Fatal(err)
		}
		waitReady(t, v)
		wantReason(t, v, tokenFor(t, clock, k.rsa, mainKID), "")

		// Leave a fetch hanging when Close is called.
		srv.hang(release)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = v.Verify(context.Background(), tokenFor(t, clock, k.rotated, rotatedKID), []string{testAUD})
		}()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		v.Close()
		v.Close()
		if d := time.Since(start); d > time.Second {
			t.Errorf("Close took %v with a hung fetch", d)
		}
		<-done
	}

	deadline := time.Now().Add(3 * time.Second)
	for {
		settle()
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func settle() {
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
}

// parseKeySet installs only keys that can verify an allowed algorithm.
func TestParseKeySet(t *testing.T) {
	k := fixtureKeys()
	rs256 := []string{"RS256"}
	cases := []struct {
		name     string
		algs     []string
		keys     func(t testing.TB) []byte
		wantKIDs []string
		wantErr  bool
	}{
		{name: "Cloudflare JWKS with public_cert members", algs: rs256, keys: func(t testing.TB) []byte {
			return jwksDoc(t, cloudflareJWK(t, k.rsa, mainKID), cloudflareJWK(t, k.rotated, rotatedKID))
		}, wantKIDs: []string{mainKID, rotatedKID}},
		{name: "oct, enc, weak and EC keys are dropped", algs: rs256, keys: func(t testing.TB) []byte {
			return []byte(`{"keys":[{"kty":"oct","kid":"oct","k":"c2VjcmV0"},` +
				string(jwkJSON(t, &k.rsa.PublicKey, "enc", map[string]any{"use": "enc"})) + `,` +
				string(cloudflareJWK(t, k.weak, "weak")) + `,` +
				string(jwkJSON(t, &k.ec256.PublicKey, "ec", nil)) + `,` +
				string(cloudflareJWK(t, k.rsa, "good")) + `]}`)
		}, wantKIDs: []string{"good"}},
		{name: "key_ops without verify is dropped", algs: rs256, keys: func(t testing.TB) []byte {
			return jwksDoc(t, jwkJSON(t, &k.rsa.PublicKey, "ops", map[string]any{"key_ops": []string{"encrypt"}}),
				jwkJSON(t, &k.rotated.PublicKey, "ok", map[string]any{"key_ops": []string{"verify"}}))
		}, wantKIDs: []string{"ok"}},
		{name: "a duplicated kid is dropped altogether", algs: rs256, keys: func(t testing.TB) []byte {
			return jwksDoc(t, cloudflareJWK(t, k.rsa, "dup"), cloudflareJWK(t, k.rotated, "dup"), cloudflareJWK(t, k.rsa, "one"))
		}, wantKIDs: []string{"one"}},
		{name: "a kid with control characters is dropped", algs: rs256, keys: func(t testing.TB) []byte {
			return jwksDoc(t, cloudflareJWK(t, k.rsa, "bad\nkid"), cloudflareJWK(t, k.rsa, "one"))
		}, wantKIDs: []string{"one"}},
		{name: "a private JWK contributes only its public half", algs: rs256, keys: func(t testing.TB) []byte {
			return jwksDoc(t, jwkJSON(t, k.rsa, "priv", map[string]any{"alg": "RS256"}))
		}, wantKIDs: []string{"priv"}},
		{name: "a broken JWK does not spoil the others", algs: rs256, keys: func(t testing.TB) []byte {
			return []byte(`{"keys":[{"kty":"RSA","kid":"broken","n":"!!","e":"AQAB"},` + string(cloudflareJWK(t, k.rsa, "one")) + `]}`)
		}, wantKIDs: []string{"one"}},
		{name: "generic preset installs EC and Ed25519", algs: GenericAlgorithms(), keys: func(t testing.TB) []byte {
			return jwksDoc(t, jwkJSON(t, &k.ec256.PublicKey, "ec", nil), jwkJSON(t, k.ed.Public(), "ed", nil))
		}, wantKIDs: []string{"ec", "ed"}},
		{name: "nothing usable is an error", algs: rs256, keys: func(t testing.TB) []byte {
			return jwksDoc(t, jwkJSON(t, k.ed.Public(), "ed", nil))
		}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, _, err := parseKeySet(tc.keys(t), tc.algs)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("installed %d keys, want an error", len(keys))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tc.wantKIDs) {
				t.Errorf("installed %d keys, want %v", len(keys), tc.wantKIDs)
			}
			for _, kid := range tc.wantKIDs {
				if _, ok := keys[kid]; !ok {
					t.Errorf("kid %q not installed", kid)
				}
			}
		})
	}
}
