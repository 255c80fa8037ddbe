package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// built caches one `go build` per test binary: every test of the process
// shares it. It is the package's only state, and tests only ever read it
// through Build.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// Build returns the path of a clusterd binary: $CLUSTERD_BIN when set,
// otherwise one built from this module with `go build`, once per test
// process. The build lives in a directory of its own under os.TempDir();
// Main removes it.
func Build(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("CLUSTERD_BIN"); bin != "" {
		return bin
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "clusterd-nodetest-")
		if built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "clusterd")
		cmd := exec.Command("go", "build", "-o", built.bin, "github.com/clusterd/clusterd")
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build github.com/clusterd/clusterd: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// Main runs the tests and then removes the binary Build made, if any:
//
//	func TestMain(m *testing.M) { nodetest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
