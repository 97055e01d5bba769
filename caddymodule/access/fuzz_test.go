package access

import (
	"context"
	"errors"
	"testing"
)

// FuzzVerify feeds arbitrary strings to the token front-end. It must never panic,
// must refuse with an *Error whose text holds nothing but the reason, and may only
// accept a token that names a principal.
func FuzzVerify(f *testing.F) {
	v, _, clock := readyVerifier(f, nil)
	k := fixtureKeys()
	valid := mint(f, k.rsa, hdr("RS256", mainKID), userClaims(clock.Now()))
	for _, seed := range []string{
		valid,
		valid[:len(valid)-1],
		flipSignatureBit(valid),
		mint(f, nil, hdr("none", mainKID), userClaims(clock.Now())),
		mint(f, k.rsa, with(hdr("RS256", mainKID), "crit", []string{"x"}), userClaims(clock.Now())),
		mint(f, k.rsa, hdr("RS256", mainKID), []byte(`[]`)),
		mint(f, k.rsa, hdr("RS256", mainKID), serviceClaims(clock.Now())),
		"", "abc", "a.b.c", "e30.e30.e30", "e30.e30.e30.e30", "..", "....",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.", "e30.e30.=", "\x00.\x00.\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token, []string{testAUD})
		if err == nil {
			if c == nil || c.ID() == "" || c.Issuer != testIssuer {
				t.Fatalf("accepted with claims %+v", c)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || err.Error() != "access: token rejected: "+e.Reason || c != nil {
			t.Fatalf("Verify = %+v, %v", c, err)
		}
	})
}
