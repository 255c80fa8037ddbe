package mesos

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzDecodeCall: no scheduler call body panics the decoder or the
// validation, and a call that passes both re-encodes to one that does too.
func FuzzDecodeCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"fw","roles":["web"],"capabilities":[{"type":"MULTI_ROLE"}]}}}`,
		`{"framework_id":{"value":"f1"},"type":"ACCEPT","accept":{"offer_ids":[{"value":"o1"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"a1"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1}}],"command":{"value":"true"}}]}}],"filters":{"refuse_seconds":5}}}`,
		`{"framework_id":{"value":"f1"},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a1"},"task_id":{"value":"t1"},"uuid":"AAEC"}}`,
		`{"framework_id":{"value":"f1"},"type":"RECONCILE","reconcile":{"tasks":[]}}`,
		`{"type":"DECLINE"}`, `[]`, `{"type":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCall(b)
		if err != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("a valid call does not encode: %v", err)
		}
		back, err := DecodeCall(again)
		if err != nil || back.Validate() != nil {
			t.Fatalf("a valid call re-encoded as %s is refused: %v / %v", again, err, back.Validate())
		}
	})
}

// FuzzDecodeOperatorCall: as FuzzDecodeCall, for the operator API.
func FuzzDecodeOperatorCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"GET_STATE"}`,
		`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"web","weight":2}]}}`,
		`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"web","limits":{"cpus":{"value":4}}}]}}`,
		`{"type":"RESERVE_RESOURCES","reserve_resources":{"agent_id":{"value":"a1"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"web"}]}]}}`,
		`{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"a1"},"max_grace_period":{"nanoseconds":1000}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeOperatorCall(b)
		if err != nil || c.Validate() != nil {
			return
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("a valid operator call does not encode: %v", err)
		}
		if back, err := DecodeOperatorCall(again); err != nil || back.Validate() != nil {
			t.Fatalf("a valid operator call re-encoded as %s is refused", again)
		}
	})
}

// FuzzRecordIO: the reader never panics, never returns a record over its
// limit, and reads back exactly what the writer framed.
func FuzzRecordIO(f *testing.F) {
	f.Add([]byte("5\nhello3\nabc"), 16)
	f.Add([]byte("99999999999999999999\n"), 16)
	f.Add([]byte("2\nab\n"), 1)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if limit <= 0 || limit > 1<<20 {
			limit = 64
		}
		r := NewReader(bytes.NewReader(b), limit)
		for i := 0; i < len(b)+1; i++ {
			rec, err := r.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				break // a framing error ends the stream, as a connection would
			}
			if len(rec) > limit {
				t.Fatalf("a record of %d bytes passed the limit %d", len(rec), limit)
			}
		}
		var framed bytes.Buffer
		w := NewWriter(&framed)
		if err := w.WriteRecord(b); err != nil {
			t.Fatal(err)
		}
		got, err := NewReader(&framed, len(b)+1).ReadRecord()
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("a framed record read back as %q, %v", got, err)
		}
	})
}

// FuzzParseRangesString: Mesos range strings ("[31000-32000, 33000-33000]")
// parse without a panic, and what parses has begin <= end.
func FuzzParseRangesString(f *testing.F) {
	f.Add("[31000-32000,33000-33000]")
	f.Add("[1-0]")
	f.Add("[")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRangesString(s)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Begin > r.End {
				t.Fatalf("ParseRangesString(%q) accepted %d-%d", s, r.Begin, r.End)
			}
		}
	})
}
