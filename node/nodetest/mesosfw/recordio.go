package mesosfw

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxRecordSize bounds one RecordIO record (and one non-streaming response
// body). A record announcing a larger length is an error.
const MaxRecordSize = 16 << 20

// maxLengthDigits is the number of decimal digits of the largest uint64;
// a longer length prefix cannot be a valid record-size.
const maxLengthDigits = 20

// ErrRecordIO is wrapped by every error about a malformed RecordIO stream.
var ErrRecordIO = errors.New("malformed RecordIO stream")

// recordReader reads the Mesos RecordIO format (docs/recordio.md):
//
//	records     = *record
//	record      = record-size LF record-data
//	record-size = 1*DIGIT
//	record-data = record-size(OCTET)
//
// It is strict: anything that is not a digit before the LF, an empty or
// zero length, a length over MaxRecordSize, a stream that ends inside a
// record, or record data that is not exactly one JSON object is an error.
type recordReader struct {
	r   *bufio.Reader
	off int64 // bytes consumed so far, for error messages
}

func newRecordReader(r io.Reader) *recordReader {
	return &recordReader{r: bufio.NewReader(r)}
}

func (rr *recordReader) fail(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrRecordIO, rr.off, fmt.Sprintf(format, args...))
}

// next returns the next record's raw bytes. It returns io.EOF only when the
// stream ends cleanly between records; any other error ends the stream.
func (rr *recordReader) next() ([]byte, error) {
	var n uint64
	digits := 0
	for {
		b, err := rr.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if digits == 0 {
					return nil, io.EOF
				}
				return nil, rr.fail("stream ended inside a record length (%d digits read)", digits)
			}
			return nil, err
		}
		rr.off++
		if b == '\n' {
			break
		}
		if b < '0' || b > '9' {
			return nil, rr.fail("record length contains non-digit byte %q", b)
		}
		digits++
		if digits > maxLengthDigits {
			return nil, rr.fail("record length has more than %d digits", maxLengthDigits)
		}
		d := uint64(b - '0')
		if n > (^uint64(0)-d)/10 {
			return nil, rr.fail("record length overflows uint64")
		}
		n = n*10 + d
	}
	if digits == 0 {
		return nil, rr.fail("empty record length (a bare LF)")
	}
	if n == 0 {
		return nil, rr.fail("record length 0 (Mesos never sends empty records)")
	}
	if n > MaxRecordSize {
		return nil, rr.fail("record length %d exceeds the %d byte bound", n, MaxRecordSize)
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(rr.r, buf)
	rr.off += int64(got)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, rr.fail("truncated record: length %d, only %d bytes before the stream ended", n, got)
		}
		return nil, err
	}
	return buf, nil
}

// nextObject returns the next record decoded as a JSON object.
func (rr *recordReader) nextObject() (map[string]any, error) {
	data, err := rr.next()
	if err != nil {
		return nil, err
	}
	obj, err := decodeObject(data)
	if err != nil {
		return nil, rr.fail("record is not a JSON object: %v (record %q)", err, clip(data, 200))
	}
	return obj, nil
}

// decodeObject decodes data, which must be exactly one JSON object.
func decodeObject(data []byte) (map[string]any, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("JSON value is %s, not an object", jsonKind(v))
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// EncodeRecord frames data as one RecordIO record ("<len>\n<data>"). It is
// exported for fakes and tests that need to produce a stream.
func EncodeRecord(data []byte) []byte {
	out := make([]byte, 0, len(data)+21)
	out = fmt.Appendf(out, "%d\n", len(data))
	return append(out, data...)
}
