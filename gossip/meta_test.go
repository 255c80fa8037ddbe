package gossip

import (
	"strings"
	"testing"
)

func TestMetaRoundTripsAndFitsMemberlistLimit(t *testing.T) {
	in := Meta{NodeID: "9471ea9d2c402462", HTTPPort: 5050, RaftPort: 5051, Build: "v0.1.0", Server: true, Zone: "us-east-1a", ClusterID: "c7d2a1f0e5b94c3a", HasState: true}
	b, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MetaMaxBytes/3 {
		t.Fatalf("typical metadata is %d bytes; keep it well under %d", len(b), MetaMaxBytes)
	}
	out, err := DecodeMeta(b)
	in.Version = metaVersion
	if err != nil || out != in {
		t.Fatalf("round trip: %+v, %v; want %+v", out, err, in)
	}
}

func TestMetaOverLimitIsRefusedWithTheFieldToShorten(t *testing.T) {
	_, err := Meta{NodeID: "n", Zone: strings.Repeat("z", 600)}.Encode()
	if err == nil || !strings.Contains(err.Error(), "zone (600)") {
		t.Fatalf("err = %v", err)
	}
}

func TestDecodeMetaRejectsNewerLayoutAndMissingID(t *testing.T) {
	if _, err := DecodeMeta([]byte(`{"v":2,"id":"n"}`)); err == nil || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("newer version: %v", err)
	}
	if _, err := DecodeMeta([]byte(`{"v":1}`)); err == nil {
		t.Fatal("metadata without a node id was accepted")
	}
	if m, err := DecodeMeta([]byte(`{"v":1,"id":"n","future":true}`)); err != nil || m.NodeID != "n" {
		t.Fatalf("unknown field from a newer node: %v", err)
	}
}
