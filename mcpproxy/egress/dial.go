package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// dialer connects only to addresses the policy allows.
type dialer struct {
	policy *policy
	net    *net.Dialer
}

// dialContext is the transport's DialContext. The address check that
// matters happens in control, on the IP about to be connected; the checks
// here give literal hosts a clear error and make legacy numeric hosts
// ("0x7f.1") mean the same address whichever resolver is configured.
func (d *dialer) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &Refused{Host: address, Reason: "the " + network + " network is not allowed", Hint: "only TCP connections are made"}
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dialing an upstream: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("the port %q is not a valid port number", portStr)
	}
	if r := d.policy.checkPort(host, port); r != nil {
		return nil, r
	}
	target := host
	ip, numeric, err := parseHostIP(host)
	switch {
	case err != nil:
		return nil, fmt.Errorf("the host %q looks like a numeric address but is not a valid one; use a host name or a standard IP address", host)
	case numeric:
		prefix := ""
		if ip.String() != host {
			prefix = "is " + ip.String() + ", "
		}
		if r := d.policy.checkIP(host, ip, prefix); r != nil {
			return nil, r
		}
		target = ip.String()
	}
	conn, err := d.net.DialContext(ctx, network, net.JoinHostPort(target, portStr))
	if err != nil {
		var r *Refused
		if errors.As(err, &r) {
			if numeric {
				return nil, r
			}
			// The name resolved to a refused address. Go tried every
			// address and reports the first failure, so no other address
			// was connected either.
			return nil, &Refused{Host: host, Reason: "resolves to " + r.Host + ", " + r.Reason, Hint: r.Hint}
		}
		return nil, err
	}
	return conn, nil
}

// control runs right before connect on every address a dial tries, after
// name resolution: it is the check that cannot be raced.
func (p *policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &Refused{Host: address, Reason: "not an IP address and port"}
	}
	if r := p.checkPort(ap.Addr().String(), int(ap.Port())); r != nil {
		return r
	}
	if r := p.checkIP(ap.Addr().String(), ap.Addr(), ""); r != nil {
		return r
	}
	return nil
}
