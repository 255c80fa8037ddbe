package isolate

import (
	"strings"
	"testing"
)

func TestTailBufferKeepsTheLastBytes(t *testing.T) {
	for _, sizes := range [][]int{{}, {1}, {10, 20}, {100}, {99, 1, 50}, {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, {250}, {30, 250, 3}} {
		b := newTailBuffer(100)
		var all strings.Builder
		c := byte('a')
		for _, n := range sizes {
			p := make([]byte, n)
			for i := range p {
				p[i] = c
				c = 'a' + (c-'a'+1)%26
			}
			all.Write(p)
			if w, err := b.Write(p); w != n || err != nil {
				t.Fatalf("Write(%d bytes) = %d, %v", n, w, err)
			}
		}
		want := all.String()
		if len(want) > 100 {
			want = want[len(want)-100:]
		}
		if got := b.String(); got != want {
			t.Errorf("writes of %v: tail %q; want %q", sizes, got, want)
		}
		if cap(b.buf) > 200 {
			t.Errorf("writes of %v: the buffer grew to %d bytes; want at most 200", sizes, cap(b.buf))
		}
	}
}
