package nodetest

import (
	"fmt"
	"net"
	"strconv"
)

// nodeIP is the loopback address node i binds: 127.0.0.(10+i).
func nodeIP(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i) }

// pickPorts finds a base port such that base, base+1 and base+2 are free
// (TCP, and UDP too for gossip on base+2) on every given address. The
// kernel proposes the base (a free port on ips[0]); it retries a few
// times. Another process may still take a port between the probe and the
// node's bind: the window is short and Start's timeout reports it.
func pickPorts(ips []string) (int, error) {
	var lastErr error
	for try := 0; try < 20; try++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return 0, fmt.Errorf("probe a free port on %s: %w", ips[0], err)
		}
		base := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if base+2 > 65535 {
			continue
		}
		if lastErr = portsFree(ips, base); lastErr == nil {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no three consecutive free ports on %v after 20 tries: %w", ips, lastErr)
}

// portsFree reports nil when base..base+2 can be bound on every address.
func portsFree(ips []string, base int) error {
	for _, ip := range ips {
		for p := base; p <= base+2; p++ {
			addr := net.JoinHostPort(ip, strconv.Itoa(p))
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			ln.Close()
			if p == base+2 {
				pc, err := net.ListenPacket("udp", addr)
				if err != nil {
					return err
				}
				pc.Close()
			}
		}
	}
	return nil
}
