package mesos

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRecordIORoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	recs := []string{`{"type":"HEARTBEAT"}`, "", "hello\nworld", strings.Repeat("x", 5000)}
	for _, r := range recs {
		if err := w.WriteRecord([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(buf.String(), "20\n{\"type\":\"HEARTBEAT\"}0\n11\nhello\nworld5000\n") {
		t.Fatalf("framing: %q", buf.String()[:60])
	}
	rd := NewReader(&buf, 0)
	for i, want := range recs {
		got, err := rd.ReadRecord()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("record %d: got %q want %q", i, got, want)
		}
	}
	if _, err := rd.ReadRecord(); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}
}

func TestRecordIOEmptyStream(t *testing.T) {
	if _, err := NewReader(strings.NewReader(""), 0).ReadRecord(); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}
}

func TestRecordIOFlushes(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := NewWriter(rec).WriteRecord([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || rec.Body.String() != "3\nabc" {
		t.Fatalf("flushed=%v body=%q", rec.Flushed, rec.Body.String())
	}
}

func TestRecordIOTruncated(t *testing.T) {
	for _, in := range []string{"10\nabc", "12", "3\nabc4\nab"} {
		rd := NewReader(strings.NewReader(in), 0)
		var err error
		for err == nil {
			_, err = rd.ReadRecord()
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: want unexpected EOF, got %v", in, err)
		}
	}
}

func TestRecordIOBadLength(t *testing.T) {
	for _, in := range []string{"abc\nxyz", "\nabc", "-1\n", "1 \na", "0x10\n"} {
		_, err := NewReader(strings.NewReader(in), 0).ReadRecord()
		if err == nil || err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: want a length error, got %v", in, err)
		}
	}
}

func TestRecordIOOversize(t *testing.T) {
	rd := NewReader(strings.NewReader("11\nhello world"), 10)
	if _, err := rd.ReadRecord(); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("want ErrRecordTooLarge, got %v", err)
	}
	rd = NewReader(strings.NewReader("99999999999999999999999999\n"), 0)
	if _, err := rd.ReadRecord(); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("want ErrRecordTooLarge, got %v", err)
	}
	rd = NewReader(strings.NewReader("10\nhelloworld"), 10)
	if b, err := rd.ReadRecord(); err != nil || string(b) != "helloworld" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
}
