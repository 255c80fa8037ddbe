package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/clusterd/clusterd/web/api"
)

func TestSnapshotStreamsWithItsChecksumInATrailer(t *testing.T) {
	e := newTestEnv(t)
	e.backend.snapshot = `{"version":3}` + "\n" + `{"job":{"spec":{"id":"web"}}}` + "\n"
	resp := e.do(t, "GET", "/v1/snapshot", "")
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/snapshot: %d %v", resp.StatusCode, err)
	}
	if string(body) != e.backend.snapshot {
		t.Errorf("body %q, want the snapshot as written", body)
	}
	sum := sha256.Sum256(body)
	if got := resp.Trailer.Get(SnapshotSHA256Trailer); got != hex.EncodeToString(sum[:]) {
		t.Errorf("trailer %q, want the body's SHA-256", got)
	}
	// An error before the first byte is an ordinary error answer.
	e.backend.setErr(&api.NotLeaderError{LeaderAddr: "10.0.0.2:5050"})
	resp = e.do(t, "GET", "/v1/snapshot", "")
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Trailer.Get(SnapshotSHA256Trailer) != "" {
		t.Errorf("on a follower: %d with trailer %q, want a 307 and no checksum", resp.StatusCode, resp.Trailer.Get(SnapshotSHA256Trailer))
	}
}

func TestRestoreTakesASnapshotLargerThanOtherRequests(t *testing.T) {
	e := newTestEnv(t)
	big := strings.Repeat("x", 3<<20) // past the 1 MiB cap of other bodies
	var sum api.SnapshotSummary
	expectJSON(t, e.do(t, "POST", "/v1/snapshot?force=true", big), 200, &sum)
	if sum.Bytes != int64(len(big)) || !e.backend.forced || len(e.backend.restored) != len(big) {
		t.Errorf("restore got %d bytes (forced %v), want all %d, forced", len(e.backend.restored), e.backend.forced, len(big))
	}
	expectError(t, e.do(t, "POST", "/v1/jobs", `{"id":"`+big+`"}`), http.StatusRequestEntityTooLarge, "", "larger than")
}
