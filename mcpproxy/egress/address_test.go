package egress

import (
	"net/netip"
	"strings"
	"testing"
)

func TestClassifyPutsEveryAddressInItsRange(t *testing.T) {
	tests := []struct {
		addr   string
		class  class
		reason string // substring
	}{
		// F1, F3: the ranges themselves.
		{"127.0.0.1", local, "loopback"},
		{"127.255.255.254", local, "loopback"},
		{"::1", local, "loopback"},
		{"10.0.0.1", local, "private"},
		{"172.16.0.1", local, "private"},
		{"172.31.255.255", local, "private"},
		{"192.168.1.1", local, "private"},
		{"100.64.0.1", local, "carrier-grade NAT"},
		{"198.18.0.1", local, "benchmarking"},
		{"169.254.1.1", local, "link-local"},
		{"fe80::1", local, "link-local"},
		{"fe80::1%eth0", local, "link-local"},
		{"fc00::1", local, "unique local"},
		{"fd12:3456::1", local, "unique local"},
		{"fec0::1", local, "site-local"},
		{"0.0.0.0", local, "unspecified"},
		{"0.1.2.3", local, "unspecified"},
		{"::", local, "unspecified"},
		{"192.0.0.8", local, "IETF protocol"},
		{"192.88.99.1", local, "6to4 relay"},
		{"64:ff9b:1::a00:1", local, "local-use NAT64"},
		{"64:ff9b:1::5db8:d822", local, "local-use NAT64"},
		{"64:ff9b:1::a9fe:a9fe", metadata, "local-use NAT64 form of 169.254.169.254"},
		{"2001:2::1", local, "IETF special-purpose"},
		// F2: metadata, wherever it sits.
		{"169.254.169.254", metadata, "metadata"},
		{"169.254.170.2", metadata, "metadata"},
		{"fd00:ec2::254", metadata, "metadata"},
		{"100.100.100.200", metadata, "metadata"},
		{"168.63.129.16", metadata, "metadata"},
		// Never an upstream.
		{"224.0.0.1", never, "multicast"},
		{"239.255.255.250", never, "multicast"},
		{"ff02::1", never, "multicast"},
		{"255.255.255.255", never, "broadcast"},
		{"240.0.0.1", never, "reserved"},
		{"192.0.2.1", never, "documentation"},
		{"198.51.100.1", never, "documentation"},
		{"203.0.113.1", never, "documentation"},
		{"2001:db8::1", never, "documentation"},
		{"3fff::1", never, "documentation"},
		{"100::1", never, "discard"},
		{"::7f00:1", never, "IPv4-compatible"},
		{"4000::1", never, "unassigned"},
		// F4, F5: forms that embed an IPv4 address are judged by it.
		{"::ffff:127.0.0.1", local, "IPv4-mapped form of 127.0.0.1, a loopback"},
		{"::ffff:169.254.169.254", metadata, "IPv4-mapped form of 169.254.169.254, a cloud metadata"},
		{"64:ff9b::7f00:1", local, "NAT64 form of 127.0.0.1, a loopback"},
		{"64:ff9b::a9fe:a9fe", metadata, "NAT64 form of 169.254.169.254"},
		{"64:ff9b::a00:1", local, "NAT64 form of 10.0.0.1, a private"},
		{"2002:7f00:1::", local, "6to4 form of 127.0.0.1, a loopback"},
		{"2002:a9fe:a9fe::1", metadata, "6to4 form of 169.254.169.254"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", local, "Teredo form of 127.0.0.1, a loopback"},
		{"2001:0:4136:e378:8000:63bf:5601:5601", metadata, "Teredo form of 169.254.169.254"},
		{"2001:0:4136:e378:8000:63bf:a247:27dd", local, "Teredo tunnel address"}, // client 93.184.216.34
		// Public addresses, including embedded public ones.
		{"93.184.216.34", public, ""},
		{"1.1.1.1", public, ""},
		{"8.8.8.8", public, ""},
		{"172.32.0.1", public, ""},
		{"100.128.0.1", public, ""},
		{"2606:2800:220:1:248:1893:25c8:1946", public, ""},
		{"::ffff:93.184.216.34", public, ""},
		{"64:ff9b::5db8:d822", public, ""},
		{"2002:5db8:d822::1", public, ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c, reason := classify(netip.MustParseAddr(tt.addr))
			if c != tt.class || !strings.Contains(reason, tt.reason) {
				t.Errorf("classify(%s) = %d %q; want %d containing %q", tt.addr, c, reason, tt.class, tt.reason)
			}
		})
	}
}

func TestParseHostIPReadsEveryNumericNotation(t *testing.T) {
	tests := []struct {
		host    string
		want    string // "" for a host name
		invalid bool
	}{
		{"127.0.0.1", "127.0.0.1", false},
		{"2130706433", "127.0.0.1", false},
		{"0x7f000001", "127.0.0.1", false},
		{"0x7f.1", "127.0.0.1", false},
		{"0177.0.0.1", "127.0.0.1", false},
		{"0177.0.0.01", "127.0.0.1", false},
		{"127.1", "127.0.0.1", false},
		{"127.0.1", "127.0.0.1", false},
		{"0", "0.0.0.0", false},
		{"0x", "0.0.0.0", false},
		{"0xA9.0xFE.0xA9.0xFE", "169.254.169.254", false},
		{"169.254.43518", "169.254.169.254", false},
		{"127.0.0.1.", "127.0.0.1", false},
		{"[::1]", "::1", false},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1", false},
		{"fe80::1%eth0", "fe80::1%eth0", false},
		{"example.com", "", false},
		{"localhost", "", false},
		{"1.example", "", false},
		{"0x7f.example", "", false},
		{"1.2.3.4.5", "", true},
		{"256.0.0.1", "", true},
		{"1.2.3.256", "", true},
		{"4294967296", "", true},
		{"09.0.0.1", "", true},
		{"example.0x1", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			ip, numeric, err := parseHostIP(tt.host)
			switch {
			case tt.invalid:
				if err == nil {
					t.Errorf("parseHostIP(%q) = %v; want an invalid numeric host", tt.host, ip)
				}
			case tt.want == "":
				if numeric || err != nil {
					t.Errorf("parseHostIP(%q) = %v, %v, %v; want a host name", tt.host, ip, numeric, err)
				}
			default:
				if !numeric || err != nil || ip.String() != tt.want {
					t.Errorf("parseHostIP(%q) = %v, %v, %v; want %s", tt.host, ip, numeric, err, tt.want)
				}
			}
		})
	}
}
