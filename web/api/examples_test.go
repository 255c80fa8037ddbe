package api

import (
	"os"
	"path/filepath"
	"testing"
)

// The job documents in docs/examples are what the README tells users to
// submit: each must decode and validate as the server would.
func TestTheDocumentedExamplesAreValidJobs(t *testing.T) {
	files, err := filepath.Glob("../../docs/examples/*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples %v (%v), want at least hello, web, nightly and publish", files, err)
	}
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeJobSpec(r); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
		r.Close()
	}
}
