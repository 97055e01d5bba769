package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDescribeNeverShowsURLSecrets(t *testing.T) {
	// I2: url.Error prints the whole URL; Describe prints the origin only.
	const secret = "SECRET0123456789"
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := strconv.Itoa(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	tlsSrv := newTLSServer(t, func(http.ResponseWriter, *http.Request) {})
	loop := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/next?token="+secret, http.StatusFound)
	})

	prod := NewClient(Options{})
	local := NewClient(Options{AllowLocalNetwork: true, MaxRedirects: 2})
	do := func(c *http.Client, rawURL string, timeout time.Duration, header http.Header) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s succeeded; want an error", rawURL)
		}
		return err
	}
	tests := []struct {
		name    string
		err     error
		want    string // substring of the description
		inPlain bool   // err.Error() shows the secret (the reason Describe exists)
	}{
		{"a refusal shows the host and reason", do(prod, "http://127.0.0.1/bot"+secret+"/send?api_key="+secret, 10*time.Second, nil),
			"refusing to connect to 127.0.0.1 (a loopback address)", true},
		{"a closed port shows the origin", do(local, "http://127.0.0.1:"+closedPort+"/bot"+secret+"/send?api_key="+secret, 10*time.Second, nil),
			"http://127.0.0.1:" + closedPort, true},
		{"a timeout shows the origin", do(local, slow.URL+"/x?api_key="+secret, 100*time.Millisecond, nil),
			"deadline exceeded", true},
		{"a TLS failure shows the origin", do(local, tlsSrv.URL+"/?api_key="+secret+"#"+secret, 10*time.Second, nil),
			"certificate", true},
		{"too many redirects show the origin", do(local, loop.URL+"/?token="+secret, 10*time.Second, nil),
			"stopped after 2 redirects", true},
		{"a bad header value is named, not shown", do(local, slow.URL+"/?api_key="+secret, 10*time.Second, http.Header{"Authorization": {"Bearer " + secret + "\nx"}}),
			"Authorization", true},
		{"a user name in the URL is not shown", do(local, "http://"+secret+"@127.0.0.1:"+closedPort+"/", 10*time.Second, nil),
			"127.0.0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Contains(tt.err.Error(), secret); got != tt.inPlain {
				t.Errorf("err.Error() = %q; the case should show the secret there (or say it does not)", tt.err)
			}
			for _, err := range []error{tt.err, fmt.Errorf("calling the upstream: %w", tt.err)} {
				d := Describe(err)
				if strings.Contains(d, secret) {
					t.Errorf("Describe = %q; it contains the secret", d)
				}
				if !strings.Contains(d, tt.want) {
					t.Errorf("Describe = %q; want it to contain %q", d, tt.want)
				}
				if strings.ContainsAny(d, "\r\n") {
					t.Errorf("Describe = %q; want one line", d)
				}
			}
		})
	}
}

func TestDescribeOfOtherErrors(t *testing.T) {
	if got := Describe(nil); got != "" {
		t.Errorf("Describe(nil) = %q; want empty", got)
	}
	tl := fmt.Errorf("reading: %w", &ResponseTooLarge{Limit: 32 << 20})
	if got := Describe(tl); !strings.HasPrefix(got, "the response body is larger than 32 MiB") {
		t.Errorf("Describe(too large) = %q", got)
	}
	if got := Describe(errors.New("two\nlines")); got != "two lines" {
		t.Errorf("Describe(two lines) = %q; want one line", got)
	}
	ue := &url.Error{Op: "Get", URL: "https://api.example.com/api/items?key=abcdef", Err: io.ErrUnexpectedEOF}
	if got, want := Describe(ue), "Get https://api.example.com: unexpected EOF"; got != want {
		t.Errorf("Describe(url.Error) = %q; want %q", got, want)
	}
	echo := &url.Error{Op: "Post", URL: "https://auth.example.com/token?secret=abcdef", Err: errors.New(`upstream said "secret=abcdef" is wrong`)}
	if got, want := Describe(echo), `Post https://auth.example.com: upstream said "…" is wrong`; got != want {
		t.Errorf("Describe(echoing url.Error) = %q; want %q", got, want)
	}
}
