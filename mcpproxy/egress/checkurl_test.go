package egress

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckURLAtSaveTime(t *testing.T) {
	prod := Options{}
	local := Options{AllowLocalNetwork: true}
	tests := []struct {
		name    string
		url     string
		opts    Options
		refused bool   // want a *Refused
		want    string // substring of the error; "" wants nil
	}{
		{"a public https URL is accepted", "https://api.example.com/v1?x=1", prod, false, ""},
		{"a public http URL is accepted", "http://api.example.com/", prod, false, ""},
		{"an upper-case scheme is accepted", "HTTPS://API.EXAMPLE.COM/", prod, false, ""},
		{"a public IP is accepted", "https://93.184.216.34/", prod, false, ""},

		// F13: schemes.
		{"file: is refused", "file:///etc/passwd", prod, true, "file: scheme is not allowed"},
		{"gopher: is refused", "gopher://example.com:70/_x", prod, true, "gopher: scheme"},
		{"ftp: is refused", "ftp://example.com/", prod, true, "ftp: scheme"},
		{"data: is refused", "data:text/plain,hello", prod, true, "data: scheme"},
		{"javascript: is refused", "javascript:alert(1)", prod, true, "javascript: scheme"},
		{"unix: is refused", "unix:///var/run/docker.sock", prod, true, "unix: scheme"},
		{"ws: is refused", "ws://example.com/", prod, true, "ws: scheme"},
		{"a URL without a scheme is refused", "example.com/x", prod, false, "no scheme"},

		// Shape.
		{"userinfo is refused", "https://user:hunter2@example.com/", prod, false, "user name or password"},
		{"a missing host is refused", "http:///path", prod, false, "no host"},
		{"a malformed URL is refused", "http://exa mple.com/", prod, false, "not valid"},
		{"a port out of range is refused", "https://example.com:99999/", prod, false, "not a valid port"},

		// F1, F3, F4: literal addresses in any notation.
		{"loopback is refused", "http://127.0.0.1:2019/", Options{AllowedPorts: []int{2019}}, true, "a loopback address"},
		{"IPv6 loopback is refused", "http://[::1]/", prod, true, "loopback"},
		{"decimal loopback is refused", "http://2130706433/", prod, true, "is 127.0.0.1, a loopback address"},
		{"hex loopback is refused", "http://0x7f.1/", prod, true, "is 127.0.0.1"},
		{"octal loopback is refused", "http://0177.0.0.1/", prod, true, "is 127.0.0.1"},
		{"short loopback is refused", "http://127.1/", prod, true, "is 127.0.0.1"},
		{"IPv4-mapped loopback is refused", "http://[::ffff:127.0.0.1]/", prod, true, "IPv4-mapped form of 127.0.0.1"},
		{"the unspecified IPv6 address is refused", "http://[::]/", prod, true, "unspecified"},
		{"0.0.0.0 is refused", "http://0.0.0.0/", prod, true, "unspecified"},
		{"full-width loopback is refused", "http://１２７。０。０。１/", prod, true, "loopback"},
		{"a trailing dot does not hide loopback", "http://127.0.0.1./", prod, true, "loopback"},
		{"a private address is refused", "http://10.1.2.3/", prod, true, "private"},
		{"a CGNAT address is refused", "http://100.64.0.1/", prod, true, "carrier-grade NAT"},
		{"a link-local IPv6 address with a zone is refused", "http://[fe80::1%25eth0]/", prod, true, "link-local"},
		{"a unique local address is refused", "http://[fd00::1]/", prod, true, "unique local"},
		{"NAT64 loopback is refused", "http://[64:ff9b::7f00:1]/", prod, true, "NAT64 form of 127.0.0.1"},
		{"6to4 loopback is refused", "http://[2002:7f00:1::]/", prod, true, "6to4 form of 127.0.0.1"},
		{"an invalid numeric host is refused", "http://1.2.3.4.5/", prod, false, "looks like a numeric address"},

		// F2: metadata.
		{"the metadata address is refused", "http://169.254.169.254/latest/meta-data/", prod, true, "allow_metadata is off"},
		{"the metadata address in hex is refused", "http://0xa9.0xfe.0xa9.0xfe/", prod, true, "is 169.254.169.254, a cloud metadata address"},
		{"the AWS IPv6 metadata address is refused", "http://[fd00:ec2::254]/", prod, true, "metadata"},
		{"the Alibaba metadata address is refused", "http://100.100.100.200/", prod, true, "metadata"},
		{"the GCP metadata name is refused", "http://metadata.google.internal/computeMetadata/v1/", prod, true, "metadata"},
		{"the metadata address stays refused with the local network open", "http://169.254.169.254/", local, true, "allow_metadata is off"},
		{"the metadata name stays refused with the local network open", "http://metadata.google.internal/", local, true, "metadata"},
		{"AllowMetadata opens the metadata address", "http://169.254.169.254/", Options{AllowMetadata: true}, false, ""},

		// Local names.
		{"localhost is refused", "http://localhost/", prod, true, "local network"},
		{"LOCALHOST. is refused", "http://LOCALHOST./", prod, true, "local network"},
		{"a .localhost name is refused", "http://api.localhost/", prod, true, "local network"},
		{"a .internal name is refused", "https://db.corp.internal/", prod, true, "local network"},
		{"a .local name is refused", "http://printer.local/", prod, true, "local network"},
		{"a home.arpa name is refused", "http://nas.home.arpa/", prod, true, "local network"},
		{"a Kubernetes service name is refused", "http://redis.default.svc/", prod, true, "local network"},
		{"a single-label name is refused", "http://redis/", prod, true, "single-label"},

		// F14: ports.
		{"port 22 is refused by default", "http://example.com:22/", prod, true, "port 22 is not allowed"},
		{"port 6379 is refused by default", "http://example.com:6379/", prod, true, "port 6379"},
		{"port 8443 is refused by default", "https://example.com:8443/", prod, true, "allowed ports are 80, 443"},
		{"an allow-listed port is accepted", "https://example.com:8443/", Options{AllowedPorts: []int{443, 8443}}, false, ""},
		{"an allow-list replaces the defaults", "https://example.com/", Options{AllowedPorts: []int{8443}}, true, "port 443 is not allowed"},

		// The local network open.
		{"loopback is accepted with the local network open", "http://127.0.0.1:2019/", local, false, ""},
		{"localhost on any port is accepted with the local network open", "http://localhost:3000/", local, false, ""},
		{"a single-label name is accepted with the local network open", "http://redis:8080/", local, false, ""},
		{"an allow-list still applies with the local network open", "http://localhost:3000/", local.with(func(o *Options) { o.AllowedPorts = []int{8080} }), true, "port 3000"},
		{"multicast stays refused with the local network open", "http://224.0.0.1/", local, true, "multicast"},
		{"file: stays refused with the local network open", "file:///etc/passwd", local, true, "file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckURL(tt.url, tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v; want nil", tt.url, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckURL(%q) = nil; want an error containing %q", tt.url, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckURL(%q) = %q; want it to contain %q", tt.url, err, tt.want)
			}
			var r *Refused
			if errors.As(err, &r) != tt.refused {
				t.Errorf("CheckURL(%q) = %T; want *Refused: %v", tt.url, err, tt.refused)
			}
		})
	}
}

func TestCheckURLErrorsNeverContainTheURL(t *testing.T) {
	const secret = "sk_live_0123456789"
	for _, raw := range []string{
		"https://user:" + secret + "@example.com/",
		"http://127.0.0.1/?api_key=" + secret,
		"http://169.254.169.254/" + secret,
		"ftp://example.com/?token=" + secret,
		"http://exa mple.com/?token=" + secret,
		"https://example.com:22/?token=" + secret,
		"http://1.2.3.4.5/?token=" + secret,
	} {
		err := CheckURL(raw, Options{})
		if err == nil {
			t.Fatalf("CheckURL(%q) = nil; want an error", raw)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("CheckURL error %q contains the secret", err)
		}
	}
}

// with returns a copy of o changed by f.
func (o Options) with(f func(*Options)) Options {
	f(&o)
	return o
}
