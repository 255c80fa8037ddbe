package isolate

// Placeholder import so `go mod tidy` keeps go-systemd while its backend is
// being written; removed by the systemd backend.
import _ "github.com/coreos/go-systemd/v22/dbus"
