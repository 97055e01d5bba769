package access

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// fx is what a matrix case builds its token from.
type fx struct {
	t        testing.TB
	k        *testKeys
	now      time.Time
	attacker string // URL of a server that must never be contacted
}

func (f fx) mint(key any, h map[string]any, payload any) string { return mint(f.t, key, h, payload) }

// valid is a correct Cloudflare user token.
func (f fx) valid() string { return f.mint(f.k.rsa, hdr("RS256", mainKID), userClaims(f.now)) }

// claims returns the user claims with the pairs changed, signed correctly.
func (f fx) claims(kv ...any) string {
	return f.mint(f.k.rsa, hdr("RS256", mainKID), with(userClaims(f.now), kv...))
}

// header returns a correctly signed user token whose header has the pairs changed.
func (f fx) header(key any, kv ...any) string {
	return f.mint(key, with(hdr("RS256", mainKID), kv...), userClaims(f.now))
}

func (f fx) unix(d time.Duration) int64 { return f.now.Add(d).Unix() }

type verifyCase struct {
	name      string
	token     func(f fx) string
	audiences []string // nil means {testAUD}
	want      string   // "" = accepted, else the Reason
	check     func(t *testing.T, c *Claims)
}

// TestVerifyMatrix is the adversarial matrix of security.md §3.3 group A that
// applies to a pure verifier, run against the Cloudflare preset (RS256, type app,
// 30 s leeway) with a JWKS holding one Cloudflare key.
func TestVerifyMatrix(t *testing.T) {
	v, srv, clock := readyVerifier(t, nil)
	attacker, attackerHits := countingServer(t)
	f := fx{t: t, k: fixtureKeys(), now: clock.Now(), attacker: attacker.URL}
	k := f.k

	pubPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	nB64 := base64.RawURLEncoding.EncodeToString(k.rsa.N.Bytes())
	attackerJWK := jwkJSON(t, &k.attacker.PublicKey, "attacker", map[string]any{"alg": "RS256", "use": "sig"})
	attackerCert := selfSigned(t, k)

	cases := []verifyCase{
		// Accepted tokens and the claims they yield.
		{name: "valid user token is accepted", token: fx.valid, check: func(t *testing.T, c *Claims) {
			if c.ID() != testSubject || c.Subject != testSubject || c.Email != testEmail || c.IsServiceToken() {
				t.Errorf("identity = %q/%q/%q service=%v", c.ID(), c.Subject, c.Email, c.IsServiceToken())
			}
			if c.Type != "app" || c.Issuer != testIssuer || !slices.Equal(c.Audience, []string{testAUD}) {
				t.Errorf("type/iss/aud = %q %q %q", c.Type, c.Issuer, c.Audience)
			}
			if !c.ExpiresAt.Equal(f.now.Add(time.Minute)) || !c.IssuedAt.Equal(f.now) || !c.NotBefore.Equal(f.now) {
				t.Errorf("times = %v %v %v", c.ExpiresAt, c.IssuedAt, c.NotBefore)
			}
		}},
		{name: "aud as a string equal to ours is accepted", token: func(f fx) string { return f.claims("aud", testAUD) }},
		{name: "aud list holding ours among others is accepted", token: func(f fx) string { return f.claims("aud", []string{consoleAUD, testAUD}) }},
		{name: "one of several accepted audiences matches", audiences: []string{consoleAUD, testAUD}, token: fx.valid},
		{name: "expired 29 s ago is accepted with 30 s leeway", token: func(f fx) string { return f.claims("exp", f.unix(-29*time.Second)) }},
		{name: "fractional exp in the future is accepted", token: func(f fx) string { return f.claims("exp", rawJSON("1800000030.25")) }},
		{name: "nbf 20 s in the future is accepted within leeway", token: func(f fx) string { return f.claims("nbf", f.unix(20*time.Second)) }},
		{name: "iat 20 s in the future is accepted within leeway", token: func(f fx) string { return f.claims("iat", f.unix(20*time.Second)) }},
		{name: "service token yields a service principal", token: func(f fx) string {
			return f.mint(k.rsa, hdr("RS256", mainKID), serviceClaims(f.now))
		}, check: func(t *testing.T, c *Claims) {
			if !c.IsServiceToken() || c.ID() != serviceCN || c.Name != serviceCN || c.Email != "" || !c.NotBefore.IsZero() {
				t.Errorf("service claims = %+v", c)
			}
		}},
		{name: "email without sub becomes the ID", token: func(f fx) string { return f.claims("sub", nil) }, check: func(t *testing.T, c *Claims) {
			if c.ID() != testEmail || c.IsServiceToken() {
				t.Errorf("ID = %q", c.ID())
			}
		}},
		{name: "name and groups claims are mapped", token: func(f fx) string {
			return f.claims("name", "Ada Lovelace", "groups", []any{"eng", 7, true, map[string]any{"a": 1}})
		}, check: func(t *testing.T, c *Claims) {
			if c.Name != "Ada Lovelace" || !slices.Equal(c.Groups, []string{"eng", "7", "true", `{"a":1}`}) {
				t.Errorf("name/groups = %q %q", c.Name, c.Groups)
			}
		}},
		{name: "non-string name and non-array groups are ignored", token: func(f fx) string {
			return f.claims("name", 42, "groups", "eng", "common_name", "cn")
		}, check: func(t *testing.T, c *Claims) {
			if c.Name != "cn" || c.Groups != nil || c.IsServiceToken() {
				t.Errorf("name/groups = %q %q", c.Name, c.Groups)
			}
		}},
		{name: "unknown header members such as typ are ignored", token: func(f fx) string { return f.header(k.rsa, "typ", "at+jwt", "x-extra", 1) }},

		// A1–A3: missing and garbage.
		{name: "empty token", token: func(fx) string { return "" }, want: ReasonMissing},
		{name: "garbage abc", token: func(fx) string { return "abc" }, want: ReasonMalformed},
		{name: "garbage a.b.c", token: func(fx) string { return "a.b.c" }, want: ReasonMalformed},
		{name: "garbage e30.e30.e30 has no alg", token: func(fx) string { return "e30.e30.e30" }, want: ReasonAlg},
		{name: "four segments", token: func(f fx) string { return f.valid() + ".e30" }, want: ReasonMalformed},
		{name: "two segments", token: func(f fx) string { h, p, _ := segments(f.valid()); return h + "." + p }, want: ReasonMalformed},
		{name: "only dots", token: func(fx) string { return ".." }, want: ReasonMalformed},
		{name: "header is not JSON", token: func(f fx) string { _, p, s := segments(f.valid()); return enc([]byte("RS256")) + "." + p + "." + s }, want: ReasonMalformed},
		{name: "header is a JSON array", token: func(f fx) string { _, p, s := segments(f.valid()); return enc([]byte(`["RS256"]`)) + "." + p + "." + s }, want: ReasonMalformed},
		{name: "header is JSON null", token: func(f fx) string { _, p, s := segments(f.valid()); return enc([]byte(`null`)) + "." + p + "." + s }, want: ReasonMalformed},
		{name: "surrounding white space", token: func(f fx) string { return " " + f.valid() + " " }, want: ReasonMalformed},
		{name: "CRLF inside a segment", token: func(f fx) string { t := f.valid(); return t[:10] + "\r\n" + t[10:] }, want: ReasonMalformed},
		{name: "oversized token is refused before parsing", token: func(fx) string { return strings.Repeat("A", DefaultMaxTokenBytes+1) }, want: ReasonTooLarge},
		{name: "64 KiB token", token: func(f fx) string { return f.claims("pad", strings.Repeat("x", 64<<10)) }, want: ReasonTooLarge},

		// A4: alg none in every casing, with an empty signature.
		{name: "alg none", token: func(f fx) string { return f.mint(nil, hdr("none", mainKID), userClaims(f.now)) }, want: ReasonAlg},
		{name: "alg None", token: func(f fx) string { return f.mint(nil, hdr("None", mainKID), userClaims(f.now)) }, want: ReasonAlg},
		{name: "alg NONE", token: func(f fx) string { return f.mint(nil, hdr("NONE", mainKID), userClaims(f.now)) }, want: ReasonAlg},
		{name: "alg nOnE", token: func(f fx) string { return f.mint(nil, hdr("nOnE", mainKID), userClaims(f.now)) }, want: ReasonAlg},
		{name: "alg none with a real RS256 signature appended", token: func(f fx) string {
			h := encJSON(f.t, hdr("none", mainKID))
			_, p, s := segments(f.valid())
			return h + "." + p + "." + s
		}, want: ReasonAlg},

		// A5: HS256 keyed with public material.
		{name: "HS256 keyed with the RSA public key PEM", token: func(f fx) string { return f.mint(pubPEM, hdr("HS256", mainKID), userClaims(f.now)) }, want: ReasonAlg},
		{name: "HS256 keyed with the JWK n as text", token: func(f fx) string { return f.mint([]byte(nB64), hdr("HS256", mainKID), userClaims(f.now)) }, want: ReasonAlg},
		{name: "HS256 keyed with the modulus bytes", token: func(f fx) string { return f.mint(k.rsa.N.Bytes(), hdr("HS256", mainKID), userClaims(f.now)) }, want: ReasonAlg},

		// A6: anything but RS256 under the Cloudflare preset.
		{name: "RS384 is not in the Cloudflare allow-list", token: func(f fx) string { return f.header(k.rsa, "alg", "RS384") }, want: ReasonAlg},
		{name: "RS512 is not in the Cloudflare allow-list", token: func(f fx) string { return f.header(k.rsa, "alg", "RS512") }, want: ReasonAlg},
		{name: "PS256 is not in the Cloudflare allow-list", token: func(f fx) string { return f.header(k.rsa, "alg", "PS256") }, want: ReasonAlg},
		{name: "ES256 is not in the Cloudflare allow-list", token: func(f fx) string { return f.header(k.ec256, "alg", "ES256") }, want: ReasonAlg},
		{name: "EdDSA is not in the Cloudflare allow-list", token: func(f fx) string { return f.header(k.ed, "alg", "EdDSA") }, want: ReasonAlg},
		{name: "alg rs256 in lower case", token: func(f fx) string { return f.header(nil, "alg", "rs256") }, want: ReasonAlg},
		{name: "alg missing", token: func(f fx) string { return f.header(nil, "alg", nil) }, want: ReasonAlg},
		{name: "alg is a number", token: func(f fx) string { return f.header(nil, "alg", 256) }, want: ReasonAlg},

		// A7–A9: kid.
		{name: "kid not in the JWKS", token: func(f fx) string { return f.header(k.rsa, "kid", rotatedKID) }, want: ReasonKidUnknown},
		{name: "kid missing", token: func(f fx) string { return f.header(k.rsa, "kid", nil) }, want: ReasonKid},
		{name: "kid empty", token: func(f fx) string { return f.header(k.rsa, "kid", "") }, want: ReasonKid},
		{name: "kid is a number", token: func(f fx) string { return f.header(k.rsa, "kid", 1) }, want: ReasonKid},
		{name: "kid path traversal is only a map key", token: func(f fx) string { return f.header(k.rsa, "kid", "../../etc/passwd") }, want: ReasonKidUnknown},
		{name: "kid of 10 KB", token: func(f fx) string { return f.header(k.rsa, "kid", strings.Repeat("k", 10<<10)) }, want: ReasonKid},
		{name: "kid of 257 bytes", token: func(f fx) string { return f.header(k.rsa, "kid", strings.Repeat("k", 257)) }, want: ReasonKid},
		{name: "kid with NUL", token: func(f fx) string { return f.header(k.rsa, "kid", mainKID+"\x00") }, want: ReasonKid},
		{name: "kid with CRLF", token: func(f fx) string { return f.header(k.rsa, "kid", mainKID+"\r\nlevel=INFO") }, want: ReasonKid},
		{name: "kid with non-ASCII", token: func(f fx) string { return f.header(k.rsa, "kid", mainKID+"é") }, want: ReasonKid},

		// A10–A11: keys named by the token or made by someone else.
		{name: "embedded jwk with the attacker kid", token: func(f fx) string {
			return f.mint(k.attacker, with(hdr("RS256", "attacker"), "jwk", attackerJWK), userClaims(f.now))
		}, want: ReasonKidUnknown},
		{name: "embedded jwk with the real kid", token: func(f fx) string { return f.header(k.attacker, "jwk", attackerJWK) }, want: ReasonSignature},
		{name: "jku to the attacker", token: func(f fx) string { return f.header(k.attacker, "jku", f.attacker+"/jwks") }, want: ReasonSignature},
		{name: "x5u to the attacker", token: func(f fx) string { return f.header(k.attacker, "x5u", f.attacker+"/cert.pem") }, want: ReasonSignature},
		{name: "x5c with the attacker certificate", token: func(f fx) string { return f.header(k.attacker, "x5c", []string{attackerCert}) }, want: ReasonSignature},
		{name: "another RSA key carrying the real kid", token: func(f fx) string { return f.header(k.attacker) }, want: ReasonSignature},

		// A12–A13: signature tampering.
		{name: "signature bit flip", token: func(f fx) string { return flipSignatureBit(f.valid()) }, want: ReasonSignature},
		{name: "signature truncated by 4 characters", token: func(f fx) string { t := f.valid(); return t[:len(t)-4] }, want: ReasonSignature},
		{name: "signature truncated by 1 character", token: func(f fx) string { t := f.valid(); return t[:len(t)-1] }, want: ReasonSignature},
		{name: "signature empty", token: func(f fx) string { h, p, _ := segments(f.valid()); return h + "." + p + "." }, want: ReasonSignature},
		{name: "signature with = padding", token: func(f fx) string { return f.valid() + "==" }, want: ReasonMalformed},
		{name: "signature in standard base64", token: func(f fx) string {
			h, p, s := segments(f.valid())
			return h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+/"
		}, want: ReasonMalformed},
		{name: "payload sub edited after signing", token: func(f fx) string {
			h, _, s := segments(f.valid())
			return h + "." + encJSON(f.t, with(userClaims(f.now), "sub", "someone-else")) + "." + s
		}, want: ReasonSignature},
		{name: "payload email edited after signing", token: func(f fx) string {
			h, _, s := segments(f.valid())
			return h + "." + encJSON(f.t, with(userClaims(f.now), "email", "admin@example.com")) + "." + s
		}, want: ReasonSignature},
		{name: "header edited after signing", token: func(f fx) string {
			_, p, s := segments(f.valid())
			return encJSON(f.t, with(hdr("RS256", mainKID), "typ", "JOSE")) + "." + p + "." + s
		}, want: ReasonSignature},

		// A14: iss is compared byte for byte.
		{name: "iss of another team", token: func(f fx) string { return f.claims("iss", "https://evil.cloudflareaccess.com") }, want: ReasonIssuer},
		{name: "iss with a trailing slash", token: func(f fx) string { return f.claims("iss", testIssuer+"/") }, want: ReasonIssuer},
		{name: "iss over http", token: func(f fx) string { return f.claims("iss", "http://"+testTeam) }, want: ReasonIssuer},
		{name: "iss with an upper-case host", token: func(f fx) string { return f.claims("iss", "https://ACME.cloudflareaccess.com") }, want: ReasonIssuer},
		{name: "iss missing", token: func(f fx) string { return f.claims("iss", nil) }, want: ReasonIssuer},
		{name: "iss is an array", token: func(f fx) string { return f.claims("iss", []string{testIssuer}) }, want: ReasonIssuer},

		// A15–A16, A37: aud is an exact element match against the route's audiences.
		{name: "aud of another app", token: func(f fx) string { return f.claims("aud", []string{consoleAUD}) }, want: ReasonAudience},
		{name: "console token on the MCP route", audiences: []string{consoleAUD}, token: fx.valid, want: ReasonAudience},
		{name: "aud missing", token: func(f fx) string { return f.claims("aud", nil) }, want: ReasonAudience},
		{name: "aud empty list", token: func(f fx) string { return f.claims("aud", []string{}) }, want: ReasonAudience},
		{name: "aud null", token: func(f fx) string { return f.claims("aud", rawJSON("null")) }, want: ReasonAudience},
		{name: "aud ours plus x", token: func(f fx) string { return f.claims("aud", []string{testAUD + "x"}) }, want: ReasonAudience},
		{name: "aud truncated", token: func(f fx) string { return f.claims("aud", []string{testAUD[:40]}) }, want: ReasonAudience},
		{name: "aud in upper case", token: func(f fx) string { return f.claims("aud", []string{strings.ToUpper(testAUD)}) }, want: ReasonAudience},
		{name: "aud list with a non-string", token: func(f fx) string { return f.claims("aud", []any{testAUD, 1}) }, want: ReasonAudience},
		{name: "aud is a number", token: func(f fx) string { return f.claims("aud", 1) }, want: ReasonAudience},
		{name: "no accepted audiences accepts nothing", audiences: []string{}, token: fx.valid, want: ReasonAudience},
		{name: "empty accepted audience never matches an empty aud", audiences: []string{""}, token: func(f fx) string { return f.claims("aud", []string{""}) }, want: ReasonAudience},

		// A17, A29: exp.
		{name: "expired 90 s ago", token: func(f fx) string { return f.claims("exp", f.unix(-90*time.Second)) }, want: ReasonExpired},
		{name: "expired exactly leeway ago", token: func(f fx) string { return f.claims("exp", f.unix(-30*time.Second)) }, want: ReasonExpired},
		{name: "exp missing", token: func(f fx) string { return f.claims("exp", nil) }, want: ReasonExpired},
		{name: "exp null", token: func(f fx) string { return f.claims("exp", rawJSON("null")) }, want: ReasonExpired},
		{name: "exp as a string", token: func(f fx) string { return f.claims("exp", "1900000000") }, want: ReasonExpired},
		{name: "exp negative", token: func(f fx) string { return f.claims("exp", -1) }, want: ReasonExpired},
		{name: "exp beyond float range", token: func(f fx) string { return f.claims("exp", rawJSON("1e400")) }, want: ReasonExpired},
		{name: "exp after the year 9999", token: func(f fx) string { return f.claims("exp", rawJSON("1e20")) }, want: ReasonExpired},
		{name: "exp as a boolean", token: func(f fx) string { return f.claims("exp", true) }, want: ReasonExpired},

		// A18: nbf and iat in the future.
		{name: "nbf 90 s in the future", token: func(f fx) string { return f.claims("nbf", f.unix(90*time.Second)) }, want: ReasonNotBefore},
		{name: "nbf as a string", token: func(f fx) string { return f.claims("nbf", "0") }, want: ReasonNotBefore},
		{name: "iat 90 s in the future", token: func(f fx) string { return f.claims("iat", f.unix(90*time.Second)) }, want: ReasonIssuedAt},
		{name: "iat negative", token: func(f fx) string { return f.claims("iat", -5) }, want: ReasonIssuedAt},

		// A19: type.
		{name: "type org", token: func(f fx) string { return f.claims("type", "org") }, want: ReasonType},
		{name: "type missing", token: func(f fx) string { return f.claims("type", nil) }, want: ReasonType},
		{name: "type APP in upper case", token: func(f fx) string { return f.claims("type", "APP") }, want: ReasonType},
		{name: "type is a number", token: func(f fx) string { return f.claims("type", 1) }, want: ReasonType},

		// A20: a token must name its principal.
		{name: "no sub, email or common_name", token: func(f fx) string { return f.claims("sub", "", "email", nil) }, want: ReasonIdentity},
		{name: "sub is a number", token: func(f fx) string { return f.claims("sub", 12345) }, want: ReasonIdentity},
		{name: "email is an object", token: func(f fx) string { return f.claims("email", map[string]string{"a": "b"}) }, want: ReasonIdentity},

		// A26–A28: crit, serialisation and payload shape.
		{name: "crit with an unknown extension", token: func(f fx) string { return f.header(k.rsa, "crit", []string{"x-unknown"}, "x-unknown", true) }, want: ReasonCrit},
		{name: "crit with b64", token: func(f fx) string { return f.header(k.rsa, "crit", []string{"b64"}, "b64", false) }, want: ReasonCrit},
		{name: "crit empty list", token: func(f fx) string { return f.header(k.rsa, "crit", []string{}) }, want: ReasonCrit},
		{name: "JWS JSON general serialisation", token: func(f fx) string {
			h, p, s := segments(f.valid())
			return `{"payload":"` + p + `","signatures":[{"protected":"` + h + `","signature":"` + s + `"}]}`
		}, want: ReasonMalformed},
		{name: "JWS JSON flattened serialisation", token: func(f fx) string {
			h, p, s := segments(f.valid())
			return `{"payload":"` + p + `","protected":"` + h + `","signature":"` + s + `"}`
		}, want: ReasonMalformed},
		{name: "payload is a JSON array", token: func(f fx) string { return f.mint(k.rsa, hdr("RS256", mainKID), []byte(`[{"sub":"x"}]`)) }, want: ReasonMalformed},
		{name: "payload is a JSON string", token: func(f fx) string { return f.mint(k.rsa, hdr("RS256", mainKID), []byte(`"hello"`)) }, want: ReasonMalformed},
		{name: "payload is JSON null", token: func(f fx) string { return f.mint(k.rsa, hdr("RS256", mainKID), []byte(`null`)) }, want: ReasonMalformed},
		{name: "payload is not JSON", token: func(f fx) string { return f.mint(k.rsa, hdr("RS256", mainKID), []byte(`sub=x`)) }, want: ReasonMalformed},
	}

	runMatrix(t, v, f, cases)

	if n := attackerHits.Load(); n != 0 {
		t.Errorf("attacker URLs in token headers were fetched %d times", n)
	}
	// Unknown kids above forced exactly one refetch: the clock never moved.
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (startup + one forced refetch)", n)
	}
}

// runMatrix verifies each case's token and checks the outcome and the error text.
func runMatrix(t *testing.T, v *Verifier, f fx, cases []verifyCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			token := tc.token(f)
			aud := tc.audiences
			if aud == nil {
				aud = []string{testAUD}
			}
			c, err := v.Verify(context.Background(), token, aud)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected (%v), want accepted", err)
				}
				if c == nil || c.ID() == "" {
					t.Fatalf("accepted with claims %+v", c)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if c != nil {
				t.Errorf("claims returned with an error: %+v", c)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error %q", err, tc.want)
			}
			if e.Reason != tc.want {
				t.Errorf("reason = %q, want %q", e.Reason, tc.want)
			}
			if msg := err.Error(); msg != "access: token rejected: "+e.Reason {
				t.Errorf("error text %q carries more than the reason", msg)
			}
			if !errors.Is(err, &Error{Reason: tc.want}) {
				t.Errorf("errors.Is does not match reason %q", tc.want)
			}
		})
	}
}

// TestVerifyGenericAlgorithms checks that the generic preset accepts every
// asymmetric algorithm for which the JWKS has a fitting key, and nothing else.
func TestVerifyGenericAlgorithms(t *testing.T) {
	k := fixtureKeys()
	body := jwksDoc(t,
		jwkJSON(t, &k.rsa.PublicKey, "rsa-any", map[string]any{"use": "sig"}), // no alg: any RSA alg
		cloudflareJWK(t, k.rotated, "rsa-rs256"),                              // pinned to RS256
		jwkJSON(t, &k.ec256.PublicKey, "ec-p256", nil),
		jwkJSON(t, &k.ec384.PublicKey, "ec-p384", map[string]any{"alg": "ES384"}),
		jwkJSON(t, k.ed.Public(), "ed", map[string]any{"alg": "EdDSA"}),
	)
	srv := newJWKSServer(t, body)
	clock := newTestClock()
	cfg := testConfig(srv, clock)
	cfg.Algorithms = GenericAlgorithms()
	v := newTestVerifier(t, cfg)
	waitReady(t, v)
	f := fx{t: t, k: k, now: clock.Now()}
	sign := func(key any, alg, kid string) func(fx) string {
		return func(f fx) string { return f.mint(key, hdr(alg, kid), userClaims(f.now)) }
	}
	cases := []verifyCase{
		{name: "RS256 with an RSA key without alg", token: sign(k.rsa, "RS256", "rsa-any")},
		{name: "RS384 with an RSA key without alg", token: sign(k.rsa, "RS384", "rsa-any")},
		{name: "RS512 with an RSA key without alg", token: sign(k.rsa, "RS512", "rsa-any")},
		{name: "PS256 with an RSA key without alg", token: sign(k.rsa, "PS256", "rsa-any")},
		{name: "PS512 with an RSA key without alg", token: sign(k.rsa, "PS512", "rsa-any")},
		{name: "ES256 with a P-256 key", token: sign(k.ec256, "ES256", "ec-p256")},
		{name: "ES384 with a P-384 key", token: sign(k.ec384, "ES384", "ec-p384")},
		{name: "EdDSA with an Ed25519 key", token: sign(k.ed, "EdDSA", "ed")},
		{name: "RS384 against a key pinned to RS256", token: sign(k.rotated, "RS384", "rsa-rs256"), want: ReasonAlg},
		{name: "PS256 against a key pinned to RS256", token: sign(k.rotated, "PS256", "rsa-rs256"), want: ReasonAlg},
		{name: "ES384 against a P-256 key", token: sign(k.ec384, "ES384", "ec-p256"), want: ReasonAlg},
		{name: "ES256 against an RSA kid", token: sign(k.ec256, "ES256", "rsa-any"), want: ReasonAlg},
		{name: "EdDSA against an EC kid", token: sign(k.ed, "EdDSA", "ec-p256"), want: ReasonAlg},
		{name: "RS256 against the Ed25519 kid", token: sign(k.rsa, "RS256", "ed"), want: ReasonAlg},
		{name: "ES256 signature bit flip", token: func(f fx) string {
			return flipSignatureBit(f.mint(k.ec256, hdr("ES256", "ec-p256"), userClaims(f.now)))
		}, want: ReasonSignature},
		{name: "EdDSA payload edited after signing", token: func(f fx) string {
			h, _, s := segments(f.mint(k.ed, hdr("EdDSA", "ed"), userClaims(f.now)))
			return h + "." + encJSON(f.t, with(userClaims(f.now), "sub", "x")) + "." + s
		}, want: ReasonSignature},
		{name: "HS256 is never allowed", token: sign([]byte("secret"), "HS256", "rsa-any"), want: ReasonAlg},
		{name: "ES256K is not allowed", token: func(f fx) string { return f.header(nil, "alg", "ES256K", "kid", "ec-p256") }, want: ReasonAlg},
	}
	runMatrix(t, v, f, cases)
}

func flipSignatureBit(token string) string {
	h, p, s := segments(token)
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	sig[len(sig)/2] ^= 0x01
	return h + "." + p + "." + enc(sig)
}

// selfSigned returns a base64 DER certificate for the attacker key, as x5c carries it.
func selfSigned(t testing.TB, k *testKeys) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "acme.cloudflareaccess.com"},
		NotBefore:    testEpoch.Add(-time.Hour),
		NotAfter:     testEpoch.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.attacker.PublicKey, k.attacker)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// A29: exp is honoured with exactly the configured leeway, moving an injected
// clock past a token that expires at testEpoch. now < exp + leeway is required,
// so a token expired exactly leeway ago is refused.
func TestLeewayBoundaries(t *testing.T) {
	cases := []struct {
		name     string
		leeway   time.Duration // Config.Leeway: 0 is the 30 s default, negative is none
		elapsed  time.Duration // clock minus exp
		accepted bool
	}{
		{"default leeway, 29 s after exp", 0, 29 * time.Second, true},
		{"default leeway, 30 s after exp", 0, 30 * time.Second, false},
		{"default leeway, 90 s after exp", 0, 90 * time.Second, false},
		{"60 s leeway, 30 s after exp", 60 * time.Second, 30 * time.Second, true},
		{"60 s leeway, 59 s after exp", 60 * time.Second, 59 * time.Second, true},
		{"60 s leeway, 60 s after exp", 60 * time.Second, 60 * time.Second, false},
		{"60 s leeway, 90 s after exp", 60 * time.Second, 90 * time.Second, false},
		{"no leeway, 1 s before exp", -1, -time.Second, true},
		{"no leeway, at exp", -1, 0, false},
	}
	k := fixtureKeys()
	srv := newJWKSServer(t, jwksDoc(t, cloudflareJWK(t, k.rsa, mainKID)))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock()
			cfg := testConfig(srv, clock)
			cfg.Leeway = tc.leeway
			v := newTestVerifier(t, cfg)
			waitReady(t, v)
			token := mint(t, k.rsa, hdr("RS256", mainKID), with(userClaims(testEpoch.Add(-time.Hour)), "exp", testEpoch.Unix()))
			clock.Advance(tc.elapsed)
			want := ReasonExpired
			if tc.accepted {
				want = ""
			}
			wantReason(t, v, token, want)
		})
	}
}
