package egress

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Refused is the error for a destination the client will not contact: an
// address in a refused range, a port off the allow-list, a scheme other than
// http and https, or a redirect that would leak credentials. net/http wraps it
// in a *url.Error; find it with errors.As.
//
// Its message names the host and the reason, never the URL, because a URL
// may carry a credential in its query string.
type Refused struct {
	// Host is the host as the request named it (a name, an IP, or
	// host:port for a port refusal); empty when the URL had no host.
	Host string
	// Reason says what the destination is, e.g. "a loopback address" or
	// "resolves to 10.0.0.7, a private address".
	Reason string
	// Hint says which setting keeps it closed or what to do instead, e.g.
	// "allow_local_network is off". It may be empty.
	Hint string
}

func (r *Refused) Error() string {
	var b strings.Builder
	if r.Host == "" {
		b.WriteString("refusing the request")
	} else {
		b.WriteString("refusing to connect to ")
		b.WriteString(r.Host)
	}
	if r.Reason != "" {
		b.WriteString(" (")
		b.WriteString(r.Reason)
		b.WriteString(")")
	}
	if r.Hint != "" {
		b.WriteString("; ")
		b.WriteString(r.Hint)
	}
	return b.String()
}

// ResponseTooLarge is the read error for a response body longer than the
// limit (counted after decompression). The connection is closed when it
// happens, so the rest of the body is never read.
type ResponseTooLarge struct {
	Limit int64 // bytes
}

func (e *ResponseTooLarge) Error() string {
	return "the response body is larger than " + formatBytes(e.Limit) +
		", the most the gateway reads; ask the upstream for less (a smaller page or a narrower filter)"
}

func formatBytes(n int64) string {
	const mib = 1 << 20
	const kib = 1 << 10
	switch {
	case n >= mib && n%mib == 0:
		return strconv.FormatInt(n/mib, 10) + " MiB"
	case n >= kib && n%kib == 0:
		return strconv.FormatInt(n/kib, 10) + " KiB"
	default:
		return strconv.FormatInt(n, 10) + " bytes"
	}
}

// Describe returns a one-line description of an error from the egress
// client that is safe to show to an agent or write to a log: for a refusal
// or an oversized response, the host and the reason; otherwise the error
// with every URL cut down to its origin (scheme://host), so that credentials
// placed in a query string or a path never appear. net/http errors never
// contain header values, and neither do this package's.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var refused *Refused
	if errors.As(err, &refused) {
		return oneLine(refused.Error())
	}
	var tooLarge *ResponseTooLarge
	if errors.As(err, &tooLarge) {
		return oneLine(tooLarge.Error())
	}
	msg := err.Error()
	// Every *url.Error in the chain prints its URL; replace each.
	for e := error(err); e != nil; {
		var ue *url.Error
		if !errors.As(e, &ue) {
			break
		}
		msg = redactURL(msg, ue.URL)
		e = ue.Err
	}
	return oneLine(msg)
}

// redactURL replaces raw (quoted or not) in msg by its origin, and any other
// appearance of its path, query, fragment or user name by "…".
func redactURL(msg, raw string) string {
	if raw == "" {
		return msg
	}
	const mark = "\x00url\x00" // keeps the origin out of the piece replacement below
	msg = strings.ReplaceAll(msg, strconv.Quote(raw), mark)
	msg = strings.ReplaceAll(msg, raw, mark)
	safe := "the upstream"
	u, err := url.Parse(raw)
	if err == nil && u.Host != "" {
		safe = u.Scheme + "://" + u.Host
	}
	if err == nil {
		pieces := []string{u.RawQuery, u.Query().Encode(), u.EscapedPath(), u.Path, u.Fragment, u.User.Username()}
		for _, values := range u.Query() {
			pieces = append(pieces, values...)
		}
		for _, piece := range pieces {
			if len(piece) >= 4 { // shorter pieces are too likely to match ordinary text
				msg = strings.ReplaceAll(msg, piece, "…")
			}
		}
	}
	return strings.ReplaceAll(msg, mark, safe)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// errTooManyRedirects is returned through CheckRedirect.
func errTooManyRedirects(n int) error {
	return fmt.Errorf("stopped after %d redirects; the upstream redirects too often or in a loop", n)
}
