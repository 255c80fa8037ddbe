package isolate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotateLogCapsAFileAnAppendingWriterKeepsUsing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout")
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString(strings.Repeat("a", 1000)); err != nil {
		t.Fatal(err)
	}
	if rotated, err := RotateLog(path, 2000); rotated || err != nil {
		t.Fatalf("a small log was rotated: %v %v", rotated, err)
	}
	if _, err := w.WriteString(strings.Repeat("b", 1500)); err != nil {
		t.Fatal(err)
	}
	if rotated, err := RotateLog(path, 2000); !rotated || err != nil {
		t.Fatalf("a 2500-byte log with a 2000-byte cap: rotated=%v err=%v", rotated, err)
	}
	// The writer, still holding the file in append mode, writes at the start.
	if _, err := w.WriteString("after"); err != nil {
		t.Fatal(err)
	}
	now, _ := os.ReadFile(path)
	if string(now) != "after" {
		t.Fatalf("log after rotation = %q, want what was written since", now)
	}
	old, _ := os.ReadFile(path + ".1")
	if len(old) != 2500 || !strings.HasSuffix(string(old), "bbb") {
		t.Fatalf("rotated part has %d bytes", len(old))
	}
	if rotated, err := RotateLog(filepath.Join(t.TempDir(), "missing"), 10); rotated || err != nil {
		t.Fatalf("missing log: %v %v", rotated, err)
	}
}
