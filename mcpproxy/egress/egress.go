// Package egress builds the one HTTP client through which the gateway reaches
// the outside world: OpenAPI spec fetches, upstream API and MCP calls, OAuth
// discovery, registration and token requests.
//
// The client refuses loopback, private, link-local and cloud-metadata
// destinations by checking the resolved IP address right before each connect
// (net.Dialer.Control), so DNS rebinding, names with both public and private
// records, and every numeric spelling of an address ("2130706433",
// "0x7f.1", "[::ffff:127.0.0.1]", NAT64 and 6to4 forms) meet the same check.
// It never uses an environment proxy, always verifies TLS, re-checks every
// redirect and strips credentials from cross-origin ones, and caps response
// bodies after decompression.
//
// Production runs with the zero Options. Local development sets
// AllowLocalNetwork so that upstreams on localhost work; metadata addresses
// stay closed even then unless AllowMetadata is set.
//
// Errors from the client can print the request URL (net/http's *url.Error
// does), and a URL may carry a credential in its query string: show agents
// and logs Describe(err), never err.Error().
package egress

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Options configure NewClient and CheckURL. The zero value is the production
// policy: public addresses only, ports 80 and 443, 32 MiB responses, ten
// redirects.
type Options struct {
	// AllowLocalNetwork opens loopback, private (RFC 1918), shared (CGNAT),
	// link-local, unique-local and other local-only ranges, and lifts the
	// default port restriction. It is on in the local default and off in
	// production. Multicast, broadcast, documentation and other ranges where
	// no upstream can live stay closed, and so do metadata addresses.
	AllowLocalNetwork bool
	// AllowMetadata opens the cloud metadata and credential endpoints
	// (169.254.169.254, 169.254.170.2, fd00:ec2::254, 100.100.100.200,
	// 168.63.129.16, …) and their names (metadata.google.internal, …). It
	// is independent of AllowLocalNetwork: metadata stays closed unless this
	// is set, because reaching it hands out the host's cloud credentials.
	AllowMetadata bool
	// AllowedPorts, when set, is the complete list of ports the client may
	// connect to (list 443 too if you add 8443). When empty, production
	// allows 80 and 443 only and AllowLocalNetwork allows any port: local
	// upstreams listen anywhere, while in production a non-web port is
	// usually a database, a Docker socket or a mail server.
	AllowedPorts []int
	// MaxResponseBytes caps each response body, counted after
	// decompression; reading past it fails with *ResponseTooLarge. Default
	// 32 MiB. WithMaxResponseBytes changes it for one request.
	MaxResponseBytes int64
	// MaxRedirects is how many redirects a request follows; default 10. Use
	// NoRedirects for a client that follows none.
	MaxRedirects int
	// DialTimeout bounds one connection attempt; default 10 s. Whole-call
	// deadlines belong to the caller's context.
	DialTimeout time.Duration
	// Resolver resolves host names; nil means net.DefaultResolver. Tests use
	// one with a fake DNS server.
	Resolver *net.Resolver
}

// Defaults for the zero Options.
const (
	DefaultMaxResponseBytes = 32 << 20
	DefaultMaxRedirects     = 10
	DefaultDialTimeout      = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	return o
}

// NewClient returns the guarded client. It has no overall Timeout: callers
// bound each call with their context. Requests with a scheme other than http
// and https, to a refused address or port, or redirecting from https to
// http fail with a *Refused (inside a *url.Error). A redirect to another
// origin keeps only a few harmless headers (Accept, Content-Type,
// User-Agent, …), so Authorization, cookies and API-key headers of any name
// stay behind, and it is refused if it would re-send the request body (a 307
// or 308).
//
// Caller-set Accept-Encoding headers are dropped so that the transport
// negotiates gzip itself and the size cap counts decompressed bytes; a gzip
// body the server sends anyway is decompressed too. Responses therefore
// always arrive decoded.
func NewClient(opts Options) *http.Client {
	opts = opts.withDefaults()
	p := newPolicy(opts)
	d := &dialer{
		policy: p,
		net: &net.Dialer{
			Timeout:   opts.DialTimeout,
			KeepAlive: 30 * time.Second,
			Resolver:  opts.Resolver,
			Control:   p.control,
		},
	}
	// Built from scratch rather than cloned from http.DefaultTransport,
	// which other code may have replaced or given a proxy or a TLS config.
	base := &http.Transport{
		Proxy:                 nil, // HTTPS_PROXY must not route around the dial check
		DialContext:           d.dialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     &transport{base: base, dialer: d, maxBytes: opts.MaxResponseBytes},
		CheckRedirect: redirectChecker(opts.MaxRedirects),
	}
}

// NoRedirects returns a copy of c that does not follow redirects: a 3xx is
// returned to the caller as is, with its body open. Use it for token and
// registration endpoints, and for every request that carries a credential in
// its query string, which no redirect check can strip.
func NoRedirects(c *http.Client) *http.Client {
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

type maxBytesKey struct{}

// WithMaxResponseBytes returns a context under which requests made by an
// egress client cap their response body at n bytes instead of
// Options.MaxResponseBytes; n <= 0 leaves the client's cap. Long-lived
// streams (an MCP server's event stream) use it together with a per-event
// cap of their own.
func WithMaxResponseBytes(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, maxBytesKey{}, n)
}
