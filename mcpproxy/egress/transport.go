package egress

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
)

// transport checks each request's scheme (every redirect hop passes through
// here too) and caps each response body after decompression.
type transport struct {
	base     *http.Transport
	dialer   *dialer
	maxBytes int64
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if r := checkScheme(req.URL); r != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, r
	}
	if req.Header.Get("Accept-Encoding") != "" {
		// With the header unset the transport asks for gzip itself and
		// decompresses, so the cap below counts what the caller reads.
		req = req.Clone(req.Context())
		req.Header.Del("Accept-Encoding")
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, nil // nothing to cap; a 101's body is the raw connection
	}
	limit := t.maxBytes
	if n, ok := req.Context().Value(maxBytesKey{}).(int64); ok && n > 0 {
		limit = n
	}
	body := &cappedBody{r: resp.Body, closer: resp.Body, remaining: limit, limit: limit}
	if !resp.Uncompressed && isGzip(resp.Header.Get("Content-Encoding")) {
		// Gzip we did not ask for (say, on a Range request): decode it here
		// so that a gzip bomb meets the cap.
		body.r = &gzipReader{src: resp.Body}
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
	}
	resp.Body = body
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

func isGzip(encoding string) bool {
	encoding = strings.TrimSpace(strings.ToLower(encoding))
	return encoding == "gzip" || encoding == "x-gzip"
}

// cappedBody fails with *ResponseTooLarge once more than limit bytes have
// been read, and closes the connection then so the rest is never
// transferred.
type cappedBody struct {
	r         io.Reader
	closer    io.Closer
	remaining int64
	limit     int64
	err       error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p))-1 > b.remaining {
		p = p[:b.remaining+1] // one byte more than allowed reveals an overflow
	}
	n, err := b.r.Read(p)
	if int64(n) > b.remaining {
		n = int(b.remaining)
		b.remaining = 0
		b.err = &ResponseTooLarge{Limit: b.limit}
		b.closer.Close()
		return n, b.err
	}
	b.remaining -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.closer.Close() }

// gzipReader decompresses lazily, so that reading the gzip header does not
// block RoundTrip.
type gzipReader struct {
	src io.Reader
	zr  *gzip.Reader
	err error
}

func (g *gzipReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		g.zr, g.err = gzip.NewReader(g.src)
		if g.err != nil {
			return 0, g.err
		}
	}
	return g.zr.Read(p)
}
