package egress

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// localNames are suffixes of names that only resolve inside a private
// network (RFC 6761, RFC 8375, ICANN's .internal, mDNS, Kubernetes, and the
// undelegated names that corporate networks use).
var localNames = []string{
	"localhost", "localdomain", "local", "internal", "intranet", "lan", "home", "corp", "home.arpa", "svc",
}

// metadataNames resolve to a metadata address on the clouds that define them.
var metadataNames = []string{
	"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
	"metadata.tencentyun.com",
}

// CheckURL is the save-time check for an upstream URL, run before the URL is
// stored: the scheme must be http or https, there must be a host and no user
// name or password (credentials belong in a connection, where they are
// encrypted), and the port must be allowed. With AllowLocalNetwork off it
// also refuses literal addresses in refused ranges in any notation
// ("2130706433", "0x7f.1", "[::ffff:127.0.0.1]") and names that only resolve
// inside a private network: single-label names, localhost, *.localhost,
// *.internal, *.local and the like. Metadata addresses and names such as
// metadata.google.internal are refused unless AllowMetadata.
//
// CheckURL does not resolve names: an answer at save time proves nothing
// about the answer at connect time. The client's dial-time check is the real
// guard; this one gives the user an early, clear error.
//
// Destination refusals are *Refused; malformed URLs are plain errors. No
// error contains the URL.
func CheckURL(raw string, opts Options) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL
		}
		return fmt.Errorf("the URL is not valid (%v); write it as https://host/path", err)
	}
	if u.Scheme == "" {
		return errors.New("the URL has no scheme; write it as https://host/path")
	}
	if r := checkScheme(u); r != nil {
		return r
	}
	if u.User != nil {
		return errors.New("the URL contains a user name or password; put credentials in a connection, not in the URL")
	}
	if u.Host == "" {
		return errors.New("the URL has no host; write it as https://host/path")
	}
	p := newPolicy(opts)
	host := normalizeHost(u.Hostname())
	if host == "" {
		return errors.New("the URL has no host; write it as https://host/path")
	}
	port, err := urlPort(u)
	if err != nil {
		return err
	}
	if r := p.checkPort(host, port); r != nil {
		return r
	}
	ip, numeric, err := parseHostIP(host)
	switch {
	case err != nil:
		return fmt.Errorf("the host %q looks like a numeric address but is not a valid one; use a host name or a standard IP address", host)
	case numeric:
		prefix := ""
		if ip.String() != strings.TrimSuffix(host, ".") {
			prefix = "is " + ip.String() + ", "
		}
		if r := p.checkIP(host, ip, prefix); r != nil {
			return r
		}
		return nil
	}
	if !p.allowMetadata {
		for _, name := range metadataNames {
			if host == name {
				return &Refused{Host: host, Reason: "a cloud metadata name", Hint: "allow_metadata is off"}
			}
		}
	}
	if p.allowLocal {
		return nil
	}
	for _, suffix := range localNames {
		if host == suffix || strings.HasSuffix(host, "."+suffix) {
			return &Refused{Host: host, Reason: "a name that only resolves on a local network", Hint: "allow_local_network is off"}
		}
	}
	if !strings.Contains(host, ".") {
		return &Refused{Host: host, Reason: "a single-label name, which only resolves on a local network", Hint: "allow_local_network is off; use a fully qualified name"}
	}
	return nil
}

// checkScheme refuses everything but http and https.
func checkScheme(u *url.URL) *Refused {
	switch u.Scheme {
	case "http", "https":
		return nil
	}
	return &Refused{Host: u.Host, Reason: "the " + u.Scheme + ": scheme is not allowed", Hint: "only http and https URLs can be fetched"}
}

// urlPort is u's port, or the scheme's default.
func urlPort(u *url.URL) (int, error) {
	s := u.Port()
	if s == "" {
		if u.Scheme == "https" {
			return 443, nil
		}
		return 80, nil
	}
	port, err := strconv.Atoi(s)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("the port %q is not a valid port number (1-65535)", s)
	}
	return port, nil
}

// normalizeHost lower-cases host, drops a trailing dot and maps the
// full-width digits and dots that IDNA maps to ASCII ("１２７。０。０。１"),
// so that they are judged as what the transport will dial.
func normalizeHost(host string) string {
	host = strings.Map(func(r rune) rune {
		switch {
		case r == '\u3002' || r == '\uff0e' || r == '\uff61':
			return '.'
		case r >= '\uff10' && r <= '\uff19':
			return '0' + (r - '\uff10')
		case r >= '\uff21' && r <= '\uff3a':
			return 'a' + (r - '\uff21')
		case r >= '\uff41' && r <= '\uff5a':
			return 'a' + (r - '\uff41')
		}
		return r
	}, host)
	host = strings.ToLower(host)
	return strings.TrimSuffix(host, ".")
}
