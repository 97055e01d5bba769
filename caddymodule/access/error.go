package access

// Reason codes carried by Error. They are short, stable and safe to log.
const (
	ReasonMissing    = "missing"     // no token, or an empty or blank header
	ReasonMultiple   = "multiple"    // more than one header value
	ReasonTooLarge   = "too_large"   // longer than MaxTokenBytes
	ReasonMalformed  = "malformed"   // not a compact JWS of three base64url parts holding JSON objects
	ReasonAlg        = "alg"         // alg not allowed, or not usable with the key named by kid
	ReasonKid        = "kid"         // kid missing, too long or not printable ASCII
	ReasonKidUnknown = "kid_unknown" // kid not in the key set, even after a refetch
	ReasonCrit       = "crit"        // a crit header is present
	ReasonSignature  = "signature"   // the signature does not verify
	ReasonIssuer     = "iss"         // iss missing or not exactly Config.Issuer
	ReasonAudience   = "aud"         // aud missing, empty, or sharing no value with the accepted audiences
	ReasonExpired    = "exp"         // exp missing, not a number, or in the past beyond the leeway
	ReasonNotBefore  = "nbf"         // nbf not a number, or in the future beyond the leeway
	ReasonIssuedAt   = "iat"         // iat not a number, or in the future beyond the leeway
	ReasonType       = "type"        // type claim is not Config.RequireType
	ReasonIdentity   = "identity"    // no sub, email or common_name, or one of them is not a string
	ReasonNoKeys     = "no_keys"     // no usable key set (never fetched, or stale beyond MaxStale)
)

// Error is the only error Verify and TokenFromHeader return. Reason is one of the
// Reason* codes; the message never contains token content, so it is safe to log.
// Callers answer every Error with the same generic 401 and log the Reason.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "access: token rejected: " + e.Reason }

// Is reports whether target is an *Error with the same Reason, so that
// errors.Is(err, &access.Error{Reason: access.ReasonExpired}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

func reject(reason string) *Error { return &Error{Reason: reason} }
