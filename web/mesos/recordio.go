// Package mesos holds the wire types of the JSON flavour of the Apache
// Mesos v1 scheduler and operator HTTP APIs, the v0 /master/state JSON,
// the conversion between Mesos resource lists and plain amounts, and the
// RecordIO framing of the event streams. It is wire types only and
// imports nothing else of clusterd.
package mesos

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// DefaultMaxRecordSize is the largest record a Reader accepts unless told
// otherwise.
const DefaultMaxRecordSize = 64 << 20

// maxLengthDigits bounds the length header so a garbage stream without a
// newline cannot make the reader buffer without limit.
const maxLengthDigits = 20

// ErrRecordTooLarge is returned (wrapped) for a length above the maximum.
var ErrRecordTooLarge = errors.New("recordio: record too large")

// Writer writes RecordIO records: "<decimal length>\n<bytes>".
type Writer struct {
	w io.Writer
	f http.Flusher
}

// NewWriter returns a Writer on w. When w is an http.Flusher every record
// is flushed as soon as it is written.
func NewWriter(w io.Writer) *Writer {
	f, _ := w.(http.Flusher)
	return &Writer{w: w, f: f}
}

// WriteRecord writes one record and flushes it when possible.
func (w *Writer) WriteRecord(b []byte) error {
	buf := make([]byte, 0, len(b)+maxLengthDigits+1)
	buf = strconv.AppendInt(buf, int64(len(b)), 10)
	buf = append(buf, '\n')
	buf = append(buf, b...)
	if _, err := w.w.Write(buf); err != nil {
		return err
	}
	if w.f != nil {
		w.f.Flush()
	}
	return nil
}

// Reader reads RecordIO records.
type Reader struct {
	r   *bufio.Reader
	max int
}

// NewReader returns a Reader on r refusing records over maxSize bytes
// (DefaultMaxRecordSize when maxSize <= 0).
func NewReader(r io.Reader, maxSize int) *Reader {
	if maxSize <= 0 {
		maxSize = DefaultMaxRecordSize
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &Reader{r: br, max: maxSize}
}

// ReadRecord returns the next record. It returns io.EOF at a clean end of
// the stream (between records), io.ErrUnexpectedEOF (wrapped) on a
// truncated record, and an error on a malformed or oversize length.
func (r *Reader) ReadRecord() ([]byte, error) {
	var digits []byte
	for {
		c, err := r.r.ReadByte()
		if err == io.EOF {
			if len(digits) == 0 {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("recordio: truncated record length %q: %w", digits, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, err
		}
		if c == '\n' {
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("recordio: invalid record length: unexpected byte %q after %q", c, digits)
		}
		if len(digits) >= maxLengthDigits {
			return nil, fmt.Errorf("recordio: record length %q...: %w", digits, ErrRecordTooLarge)
		}
		digits = append(digits, c)
	}
	if len(digits) == 0 {
		return nil, errors.New("recordio: invalid record length: empty")
	}
	n, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("recordio: record length %s: %w", digits, ErrRecordTooLarge)
	}
	if n > uint64(r.max) {
		return nil, fmt.Errorf("recordio: record length %d exceeds maximum %d: %w", n, r.max, ErrRecordTooLarge)
	}
	b := make([]byte, n)
	if m, err := io.ReadFull(r.r, b); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("recordio: truncated record: got %d of %d bytes: %w", m, n, io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return b, nil
}
