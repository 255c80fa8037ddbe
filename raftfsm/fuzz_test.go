package raftfsm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// goldenEntries are the log entries of a golden log file: one of every
// command, the fuzzers' seeds.
func goldenEntries(f *testing.F, version int) [][]byte {
	raw, err := os.ReadFile(fmt.Sprintf("testdata/golden-log-v%d.txt", version))
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var typ int
		if _, err := fmt.Sscanf(line, "%d", &typ); err != nil {
			f.Fatal(err)
		}
		out = append(out, append([]byte{byte(typ)}, line[strings.IndexByte(line, ' ')+1:]...))
	}
	return out
}

// fuzzBase is an FSM holding the state of the v2 golden log but its last
// entry, so that commands about nodes, jobs, tasks and frameworks find
// something to act on.
func fuzzBase(t testing.TB, entries [][]byte) *FSM {
	fsm := New()
	for i, e := range entries[:len(entries)-1] {
		fsm.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: e})
	}
	return fsm
}

// FuzzApplyCommand: any entry that decodes applies without a panic, and a
// command the FSM rejects (Result.Err) changes nothing.
func FuzzApplyCommand(f *testing.F) {
	entries := goldenEntries(f, 2)
	for _, e := range entries {
		f.Add(e)
	}
	if newer, err := Encode(&SetLogVersion{Version: LogVersion + 1}); err == nil {
		f.Add(newer)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := Decode(data)
		if err != nil {
			return // the FSM stops on an entry it cannot read; Decode is fuzzed below
		}
		fsm := fuzzBase(t, entries)
		if v, ok := cmd.(*SetLogVersion); ok && v.Version > LogVersion {
			// By design a server halts on a log newer than it knows
			// rather than diverge from its peers: assert it does.
			assertHaltsForUpgrade(t, fsm, data)
			return
		}
		before := fsm.View().Digest()
		res := fsm.Apply(&raft.Log{Index: 1000, Type: raft.LogCommand, Data: data}).(*Result)
		if res.Err != nil && fsm.View().Digest() != before {
			t.Fatalf("a rejected command (%v) changed the state", res.Err)
		}
	})
}

// assertHaltsForUpgrade applies data, which must make the FSM stop with a
// message that tells the operator to upgrade.
func assertHaltsForUpgrade(t *testing.T, fsm *FSM, data []byte) {
	t.Helper()
	defer func() {
		r := recover()
		if msg, _ := r.(string); !strings.Contains(msg, "upgrade it") {
			t.Fatalf("a log version newer than %d: want a halt that says to upgrade, got %v", LogVersion, r)
		}
	}()
	fsm.Apply(&raft.Log{Index: 1000, Type: raft.LogCommand, Data: data})
}

// FuzzDecodeCommand: Decode never panics, and what it accepts encodes back
// to an entry that decodes to the same command.
func FuzzDecodeCommand(f *testing.F) {
	for _, e := range goldenEntries(f, 2) {
		f.Add(e)
	}
	f.Add([]byte{})
	f.Add([]byte{255, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Encode(cmd)
		if err != nil {
			t.Fatalf("a decoded command does not encode: %v", err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("a re-encoded command does not decode: %v", err)
		}
		if back.Type() != cmd.Type() {
			t.Fatalf("type %d came back as %d", cmd.Type(), back.Type())
		}
	})
}

// FuzzRestoreSnapshot: a snapshot stream that does not read back is
// refused by ReadSnapshot and by Restore, and a refused Restore leaves the
// state as it was.
func FuzzRestoreSnapshot(f *testing.F) {
	for _, v := range []int{1, 2} {
		raw, err := os.ReadFile(fmt.Sprintf("testdata/golden-snapshot-v%d.jsonl", v))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"version":2}` + "\n"))
	entries := goldenEntries(f, 2)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, readErr := ReadSnapshot(bytes.NewReader(data))
		fsm := fuzzBase(t, entries)
		before := fsm.View().Digest()
		err := fsm.Restore(io.NopCloser(bytes.NewReader(data)))
		if err != nil && fsm.View().Digest() != before {
			t.Fatalf("a refused restore (%v) changed the state", err)
		}
		if readErr == nil && err != nil {
			t.Fatalf("ReadSnapshot accepts what Restore refuses: %v", err)
		}
	})
}
