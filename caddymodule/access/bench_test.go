package access

import (
	"context"
	"testing"
)

// BenchmarkVerify measures a Cloudflare token whose key is cached: the cost on
// every request.
func BenchmarkVerify(b *testing.B) {
	v, _, clock := readyVerifier(b, nil)
	token := mint(b, fixtureKeys().rsa, hdr("RS256", mainKID), userClaims(clock.Now()))
	aud := []string{testAUD}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token, aud); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is the same with all CPUs verifying at once.
func BenchmarkVerifyParallel(b *testing.B) {
	v, _, clock := readyVerifier(b, nil)
	token := mint(b, fixtureKeys().rsa, hdr("RS256", mainKID), userClaims(clock.Now()))
	aud := []string{testAUD}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(context.Background(), token, aud); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
