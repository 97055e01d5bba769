package egress

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeDNS is an in-process DNS server for Options.Resolver. Each name has a
// sequence of answers: the n-th A (or AAAA) query gets the n-th answer, and
// the last answer repeats, which is how a test rebinds a name.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][][]netip.Addr
	queries map[string]int // "name/type" → queries so far
}

func newFakeDNS(t *testing.T, names map[string][]string) *fakeDNS {
	t.Helper()
	f := &fakeDNS{answers: map[string][][]netip.Addr{}, queries: map[string]int{}}
	for name, addrs := range names {
		f.set(t, name, addrs...)
	}
	return f
}

// set appends one answer for name.
func (f *fakeDNS) set(t *testing.T, name string, addrs ...string) {
	t.Helper()
	var answer []netip.Addr
	for _, a := range addrs {
		answer = append(answer, netip.MustParseAddr(a))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[name] = append(f.answers[name], answer)
}

func (f *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			go f.serve(server)
			return client, nil
		},
	}
}

// serve answers one query on a stream connection (2-byte length framing):
// Go's resolver uses that framing on any conn that is not a PacketConn.
func (f *fakeDNS) serve(c net.Conn) {
	defer c.Close()
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return
	}
	msg := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(c, msg); err != nil || len(msg) < 12 {
		return
	}
	// Question: labels, then type and class.
	var labels []string
	i := 12
	for i < len(msg) && msg[i] != 0 {
		l := int(msg[i])
		if i+1+l > len(msg) {
			return
		}
		labels = append(labels, string(msg[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(msg) {
		return
	}
	qtype := binary.BigEndian.Uint16(msg[i+1:])
	question := msg[12 : i+5]
	name := strings.ToLower(strings.Join(labels, "."))

	f.mu.Lock()
	seq, known := f.answers[name]
	var answer []netip.Addr
	if known {
		k := name + "/" + strconv.Itoa(int(qtype))
		idx := f.queries[k]
		f.queries[k]++
		answer = seq[min(idx, len(seq)-1)]
	}
	f.mu.Unlock()

	var records [][]byte
	for _, a := range answer {
		var rdata []byte
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			rdata = b[:]
		case qtype == 28 && a.Is6():
			b := a.As16()
			rdata = b[:]
		default:
			continue
		}
		rr := []byte{0xc0, 12} // pointer to the question's name
		rr = binary.BigEndian.AppendUint16(rr, qtype)
		rr = binary.BigEndian.AppendUint16(rr, 1) // IN
		rr = binary.BigEndian.AppendUint32(rr, 0) // TTL
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
		records = append(records, append(rr, rdata...))
	}
	flags := uint16(0x8000 | 0x0400 | 0x0080) // response, authoritative, recursion available
	flags |= uint16(msg[2]&0x01) << 8         // echo "recursion desired"
	if !known {
		flags |= 3 // NXDOMAIN
	}
	resp := append([]byte{}, msg[0:2]...)
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(records)))
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = append(resp, question...)
	for _, rr := range records {
		resp = append(resp, rr...)
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
	c.Write(append(out, resp...))
}

func TestFakeDNSAnswersAndRebinds(t *testing.T) {
	dns := newFakeDNS(t, map[string][]string{"dual.test": {"93.184.216.34", "2606:2800:220:1::1"}})
	dns.set(t, "flip.test", "93.184.216.34")
	dns.set(t, "flip.test", "127.0.0.1")
	r := dns.resolver()
	ctx := context.Background()

	got, err := r.LookupNetIP(ctx, "ip", "dual.test")
	if err != nil || len(got) != 2 {
		t.Fatalf("dual.test = %v, %v; want two addresses", got, err)
	}
	for _, want := range []string{"93.184.216.34", "127.0.0.1", "127.0.0.1"} {
		got, err := r.LookupNetIP(ctx, "ip4", "flip.test")
		if err != nil || len(got) != 1 || got[0].String() != want {
			t.Fatalf("flip.test = %v, %v; want %s", got, err, want)
		}
	}
	if _, err := r.LookupNetIP(ctx, "ip", "unknown.test"); err == nil {
		t.Fatal("unknown.test resolved; want NXDOMAIN")
	}
}
