package gossip

import (
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// sourceBound is memberlist's NetTransport with its TCP dials (push/pull
// state exchanges, fallback probes) made from the bind address. UDP already
// leaves from the bound socket; without this, TCP would leave from whatever
// address the route picks, and a peer's firewall rules, which name the
// address a node gossips from, would see two different hosts.
type sourceBound struct {
	*memberlist.NetTransport
	source *net.TCPAddr
}

func (t *sourceBound) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *sourceBound) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: t.source}
	return d.Dial("tcp", a.Addr)
}

// boundToOneAddress says whether addr names one address (not 0.0.0.0 or ::).
func boundToOneAddress(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && !ip.IsUnspecified()
}
