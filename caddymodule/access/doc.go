// Package access verifies Cloudflare Access application tokens (the
// Cf-Access-Jwt-Assertion header) and, more generally, compact JWS tokens signed
// with keys published as a JWKS.
//
// It is the pure verifier behind the gateway's Caddy authentication providers and
// does not import Caddy. Its contract, following the project's security notes
// (§1.3 V1–V13, §1.7):
//
//   - The token comes from exactly one header value; cookies and query strings are
//     never read (TokenFromHeader).
//   - Its size is capped before any decoding, and only the compact serialisation of
//     three unpadded base64url parts is accepted.
//   - alg must be in an allow-list (RS256 for Cloudflare); none and HS* can never be
//     allowed. A crit header is refused. jku, jwk, x5u and x5c are ignored: keys come
//     only from the configured JWKS URL and are chosen strictly by kid.
//   - iss is compared byte for byte, aud by exact element equality against the
//     audiences of the route, exp is required, and type must be "app" for Cloudflare.
//   - The key set is cached and refreshed in the background; an unknown kid causes at
//     most one shared refetch per MinRefetch; a failed refresh keeps the last good
//     keys; with no keys every token is refused (fail closed).
//
// Every refusal is an *Error with a short Reason code safe to log; no error ever
// contains token content.
package access
