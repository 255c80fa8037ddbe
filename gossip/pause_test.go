package gossip

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// pausableTransport stands in for a stopped process (SIGSTOP, a long GC
// pause): while paused nothing is sent, and what arrives waits, as in a
// socket buffer, until it resumes.
type pausableTransport struct {
	memberlist.Transport
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}

	mu      sync.Mutex
	resumed chan struct{} // closed while running
}

func newPausableTransport(inner memberlist.Transport) *pausableTransport {
	t := &pausableTransport{
		Transport: inner,
		packets:   make(chan *memberlist.Packet),
		streams:   make(chan net.Conn),
		done:      make(chan struct{}),
		resumed:   make(chan struct{}),
	}
	close(t.resumed)
	go forward(t, inner.PacketCh(), t.packets)
	go forward(t, inner.StreamCh(), t.streams)
	return t
}

func forward[T any](t *pausableTransport, in <-chan T, out chan<- T) {
	for {
		select {
		case v := <-in:
			t.wait()
			select {
			case out <- v:
			case <-t.done:
				return
			}
		case <-t.done:
			return
		}
	}
}

func (t *pausableTransport) wait() {
	t.mu.Lock()
	ch := t.resumed
	t.mu.Unlock()
	select {
	case <-ch:
	case <-t.done:
	}
}

func (t *pausableTransport) pause(d time.Duration) {
	t.mu.Lock()
	ch := make(chan struct{})
	t.resumed = ch
	t.mu.Unlock()
	time.AfterFunc(d, func() { close(ch) })
}

func (t *pausableTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *pausableTransport) StreamCh() <-chan net.Conn           { return t.streams }

func (t *pausableTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.wait()
	return t.Transport.WriteTo(b, addr)
}

func (t *pausableTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	t.wait()
	return t.Transport.DialTimeout(addr, timeout)
}

// Shutdown keeps draining the inner transport while it stops: its listeners
// cannot exit while blocked handing over a packet.
func (t *pausableTransport) Shutdown() error {
	close(t.done)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-t.Transport.PacketCh():
			case <-t.Transport.StreamCh():
			case <-stop:
				return
			}
		}
	}()
	err := t.Transport.Shutdown()
	close(stop)
	return err
}
