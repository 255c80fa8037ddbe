package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeJobSpec: no job document panics the decoder; every refusal is
// a ValidationError (a 400 naming the field, never a 500); and an accepted
// spec, written back as JSON, is accepted again unchanged.
func FuzzDecodeJobSpec(f *testing.F) {
	examples, _ := filepath.Glob("../../docs/examples/*.json")
	for _, p := range examples {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"id":"x","type":"cron","schedule":"*/5 * * * *","time_zone":"Europe/Paris","cmd":"true","cpus":0.1,"mem":16}`))
	f.Add([]byte(`{"id":"x","type":"service","cmd":"true","instances":2,"cpus":0.1,"mem":16,"constraints":[["zone","GROUP_BY","3"]],"health_checks":[{"protocol":"TCP","port_index":0}],"ports":1}`))
	f.Add([]byte(`{"id":"x","cpus":1e400}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		spec, err := DecodeJobSpec(bytes.NewReader(b))
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("DecodeJobSpec(%q) refused with a %T, want a ValidationError: %v", b, err, err)
			}
			return
		}
		again, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("an accepted spec does not encode: %v", err)
		}
		back, err := DecodeJobSpec(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("an accepted spec written back as %s is refused: %v", again, err)
		}
		if twice, _ := json.Marshal(back); !bytes.Equal(twice, again) {
			t.Fatalf("an accepted spec changed on a round trip:\n%s\n%s", again, twice)
		}
	})
}

// FuzzDecodeScale: a scale body is a count in range or a ValidationError.
func FuzzDecodeScale(f *testing.F) {
	f.Add([]byte(`{"instances":3}`))
	f.Add([]byte(`{"instances":-1}`))
	f.Add([]byte(`{"replicas":3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DecodeScale(bytes.NewReader(b))
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("DecodeScale(%q): a %T, want a ValidationError: %v", b, err, err)
			}
			if strings.Contains(err.Error(), "\x00") {
				t.Fatalf("an error message carries a NUL byte: %q", err)
			}
			return
		}
		if n < 0 || n > maxInstances {
			t.Fatalf("DecodeScale(%q) = %d, out of range", b, n)
		}
	})
}
