package egress

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// class says which setting, if any, lets the client reach an address.
type class int

const (
	public   class = iota // always reachable
	local                 // reachable with AllowLocalNetwork
	metadata              // reachable with AllowMetadata
	never                 // never reachable: no HTTP server can live there
)

// metadataAddrs are the cloud instance-metadata and credential endpoints. A
// request that reaches one can read the host's cloud credentials, so they
// stay closed even when the local network is open.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack…
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task credentials
	netip.MustParseAddr("169.254.170.23"):  true, // AWS EKS pod identity
	netip.MustParseAddr("169.254.0.23"):    true, // Tencent Cloud
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS over IPv6
	netip.MustParseAddr("fd00:ec2::23"):    true, // AWS EKS pod identity over IPv6
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("168.63.129.16"):   true, // Azure wire server
}

type addrRange struct {
	prefix netip.Prefix
	class  class
	reason string
}

// ranges are checked in order, so narrower prefixes come before the wider
// ones that contain them. Forms that embed an IPv4 address (IPv4-mapped,
// NAT64, 6to4, Teredo) are unwrapped before this table is consulted.
var ranges = []addrRange{
	{netip.MustParsePrefix("0.0.0.0/8"), local, `an unspecified ("this network") address, which reaches this machine`},
	{netip.MustParsePrefix("10.0.0.0/8"), local, "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), local, "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), local, "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), local, "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), local, "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), local, "an IETF protocol assignment address"},
	{netip.MustParsePrefix("192.0.2.0/24"), never, "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), local, "a 6to4 relay anycast address"},
	{netip.MustParsePrefix("192.168.0.0/16"), local, "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), local, "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), never, "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), never, "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), never, "a multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), never, "the broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), never, "a reserved address"},

	{netip.MustParsePrefix("::/128"), local, "the unspecified address, which reaches this machine"},
	{netip.MustParsePrefix("::1/128"), local, "a loopback address"},
	{netip.MustParsePrefix("::/96"), never, "an IPv4-compatible address (deprecated)"},
	{netip.MustParsePrefix("100::/64"), never, "a discard-only address"},
	{netip.MustParsePrefix("2001:db8::/32"), never, "a documentation address"},
	{netip.MustParsePrefix("2001::/23"), local, "an IETF special-purpose address"},
	{netip.MustParsePrefix("3fff::/20"), never, "a documentation address"},
	{netip.MustParsePrefix("fc00::/7"), local, "a unique local address"},
	{netip.MustParsePrefix("fe80::/10"), local, "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), local, "a site-local address (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), never, "a multicast address"},
}

var (
	nat64Prefix     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFourPrefix = netip.MustParsePrefix("2002::/16")
	teredoPrefix    = netip.MustParsePrefix("2001::/32")
	localNAT64      = netip.MustParsePrefix("64:ff9b:1::/48")
	// All assigned global unicast IPv6 lives here; anything else that the
	// table does not name is unassigned.
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// classify says what ip is and which setting would let the client reach it.
func classify(ip netip.Addr) (class, string) {
	ip = ip.WithZone("")
	if !ip.IsValid() {
		return never, "not a valid address"
	}
	if metadataAddrs[ip] {
		return metadata, "a cloud metadata address"
	}
	if ip.Is4In6() {
		return embedded("the IPv4-mapped form of", ip.Unmap())
	}
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip):
		return embedded("the NAT64 form of", netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFourPrefix.Contains(ip):
		return embedded("the 6to4 form of", netip.AddrFrom4([4]byte(b[2:6])))
	case localNAT64.Contains(ip):
		// A private translator: local whatever it embeds, but a metadata
		// address in the usual /96 position stays metadata.
		v4 := netip.AddrFrom4([4]byte(b[12:16]))
		if c, _ := classify(v4); c == metadata || c == never {
			return embedded("the local-use NAT64 form of", v4)
		}
		return local, "a local-use NAT64 address"
	case teredoPrefix.Contains(ip):
		// Teredo is a dead transition mechanism no upstream uses, so it is
		// refused outright unless the local network is open; the obfuscated
		// client address is still unwrapped for a better reason and so that
		// a metadata address inside stays closed.
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		if c, _ := classify(client); c == public {
			return local, "a Teredo tunnel address"
		}
		return embedded("the Teredo form of", client)
	}
	for _, r := range ranges {
		if r.prefix.Contains(ip) {
			return r.class, r.reason
		}
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
		return never, "an unassigned IPv6 address"
	}
	return public, ""
}

func embedded(form string, v4 netip.Addr) (class, string) {
	c, reason := classify(v4)
	if c == public {
		return public, ""
	}
	return c, fmt.Sprintf("%s %s, %s", form, v4, reason)
}

// policy is Options reduced to the decisions the guard makes.
type policy struct {
	allowLocal    bool
	allowMetadata bool
	ports         map[int]bool // nil: any port
}

// defaultPorts are the ports open in production when Options.AllowedPorts
// is empty.
var defaultPorts = []int{80, 443}

func newPolicy(opts Options) *policy {
	p := &policy{allowLocal: opts.AllowLocalNetwork, allowMetadata: opts.AllowMetadata}
	ports := opts.AllowedPorts
	if len(ports) == 0 && !opts.AllowLocalNetwork {
		ports = defaultPorts
	}
	if len(ports) > 0 {
		p.ports = make(map[int]bool, len(ports))
		for _, port := range ports {
			p.ports[port] = true
		}
	}
	return p
}

// checkIP refuses ip unless the policy opens its class. host is what the
// request named; reasonPrefix, when set, says how host led to ip
// ("resolves to 10.0.0.7, ").
func (p *policy) checkIP(host string, ip netip.Addr, reasonPrefix string) *Refused {
	c, reason := classify(ip)
	var hint string
	switch c {
	case public:
		return nil
	case local:
		if p.allowLocal {
			return nil
		}
		hint = "allow_local_network is off"
	case metadata:
		if p.allowMetadata {
			return nil
		}
		hint = "allow_metadata is off"
	default:
		hint = "no upstream can be reached there"
	}
	return &Refused{Host: host, Reason: reasonPrefix + reason, Hint: hint}
}

// checkPort refuses a port off the allow-list.
func (p *policy) checkPort(host string, port int) *Refused {
	if port < 1 || port > 65535 {
		return &Refused{Host: host, Reason: fmt.Sprintf("port %d is out of range", port)}
	}
	if p.ports == nil || p.ports[port] {
		return nil
	}
	return &Refused{
		Host:   hostPort(host, port),
		Reason: fmt.Sprintf("port %d is not allowed", port),
		Hint:   "the allowed ports are " + p.portList() + "; an operator can add it to allowed_ports",
	}
}

func (p *policy) portList() string {
	list := slices.Sorted(maps.Keys(p.ports))
	s := make([]string, len(list))
	for i, port := range list {
		s[i] = strconv.Itoa(port)
	}
	return strings.Join(s, ", ")
}

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// errNotNumeric says a host that ends in a number is not a valid IPv4
// address in any notation.
var errNotNumeric = errors.New("not a valid numeric address")

// parseHostIP parses host as an IP address the way browsers and the C
// resolver do: standard IPv4 and IPv6 (with a zone), and also the legacy
// IPv4 notations inet_aton accepts — one to four parts, each decimal, octal
// (leading 0) or hex (0x), the last part filling the remaining bytes:
// "2130706433", "0x7f.1", "0177.0.0.1", "127.1". numeric reports whether host
// is meant as a number (its last label is numeric); a numeric host that
// does not parse returns errNotNumeric.
func parseHostIP(host string) (ip netip.Addr, numeric bool, err error) {
	host = strings.TrimPrefix(strings.TrimSuffix(host, "]"), "[")
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip, true, nil
	}
	if strings.Contains(host, ":") {
		return netip.Addr{}, false, nil // a malformed IPv6 literal: not ours to judge
	}
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1] // trailing dot
	}
	if !isNumberLabel(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil // ends in a name label: a host name
	}
	if len(parts) > 4 {
		return netip.Addr{}, true, errNotNumeric
	}
	var n uint64
	for i, part := range parts {
		v, ok := parseIPv4Part(part)
		if !ok {
			return netip.Addr{}, true, errNotNumeric
		}
		if i < len(parts)-1 {
			if v > 255 {
				return netip.Addr{}, true, errNotNumeric
			}
			n |= v << (8 * (3 - i))
			continue
		}
		// The last part fills the bytes the earlier parts left.
		if v >= 1<<(8*(4-i)) {
			return netip.Addr{}, true, errNotNumeric
		}
		n |= v
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true, nil
}

// isNumberLabel reports whether a label is written as a number (decimal
// digits, or 0x and hex digits), whether or not its value fits: WHATWG's
// "ends in a number" test.
func isNumberLabel(s string) bool {
	if len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
		return strings.Trim(s, "0123456789abcdefABCDEF") == ""
	}
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parseIPv4Part parses one part of a legacy IPv4 address.
func parseIPv4Part(s string) (uint64, bool) {
	base := 10
	switch {
	case s == "":
		return 0, false
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true // "0x" is zero, as in inet_aton and WHATWG
		}
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil || v > 0xffffffff {
		return 0, false
	}
	return v, true
}
