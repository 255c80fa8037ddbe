package raftnet

import (
	"net"
	"testing"
	"time"
)

// A server bound to one address dials its peers from it: their firewall
// rules (and the chaos suite's partitions) name that address.
func TestDialsLeaveFromTheListenersAddress(t *testing.T) {
	peer, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	own, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	conn, err := dialer(SourceAddr(own.Addr()), time.Second).Dial("tcp", peer.Addr().String())
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
		t.Fatalf("the peer saw a connection from %s, want 127.0.0.2 (the bind address)", ip)
	}
	all, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if s := SourceAddr(all.Addr()); s != nil {
		t.Fatalf("a listener on every address dials from %v, want the kernel's choice (nil)", s)
	}
}
