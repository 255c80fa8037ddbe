package node

import (
	"slices"
	"testing"
)

func TestGPUsAreGivenToOneTaskAtATimeAndSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	g, err := newGPUAssigner(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	a, err := g.assign("a", 2)
	if err != nil || !slices.Equal(a, []string{"0", "1"}) {
		t.Fatalf("a got %v, %v", a, err)
	}
	b, err := g.assign("b", 1)
	if err != nil || !slices.Equal(b, []string{"2"}) {
		t.Fatalf("b got %v, %v", b, err)
	}
	if _, err := g.assign("c", 2); err == nil {
		t.Fatal("c got 2 GPUs with only 1 free")
	}
	// A restarted agent reads the assignments back and keeps them apart.
	g2, err := newGPUAssigner(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := g2.inUse(); !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Fatalf("after a restart in use: %v", got)
	}
	if again, _ := g2.assign("a", 2); !slices.Equal(again, a) {
		t.Fatalf("a re-adopted with %v, had %v", again, a)
	}
	g2.keepOnly(map[string]bool{"b": true}) // a ended while the agent was down
	c, err := g2.assign("c", 2)
	if err != nil || slices.Contains(c, "2") {
		t.Fatalf("c got %v, %v; device 2 is b's", c, err)
	}
	g2.release("b")
	if got := g2.inUse(); slices.Contains(got, "2") {
		t.Fatalf("released device still in use: %v", got)
	}
}
