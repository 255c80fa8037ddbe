package gossip

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// Gossip bound to one address makes its TCP exchanges from it too, as its
// UDP packets are.
func TestGossipTCPLeavesFromTheBindAddress(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{"127.0.0.2"}, BindPort: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Shutdown()
	tr := &sourceBound{NetTransport: nt, source: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	conn, err := tr.DialTimeout(peer.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	in, err := peer.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if ip := in.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Fatalf("the peer saw gossip TCP from %s, want 127.0.0.2", ip)
	}
	if boundToOneAddress("0.0.0.0") || boundToOneAddress("::") || !boundToOneAddress("10.0.0.5") {
		t.Fatal("boundToOneAddress: wrong for 0.0.0.0, :: or 10.0.0.5")
	}
}
