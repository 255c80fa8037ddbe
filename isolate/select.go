package isolate

import "fmt"

// Backend names accepted by New (the agent's --isolator flag).
const (
	BackendAuto     = "auto"
	BackendProcess  = "process"
	BackendSystemd  = "systemd"
	BackendCgroupfs = "cgroupfs"
)

// New returns the isolator backend called name:
//
//   - "process": plain processes (NewProcess);
//   - "systemd", "cgroupfs": not built yet; an error says so;
//   - "auto" or "": the process backend for now. Once the systemd backend
//     lands, auto will prefer it when PID 1 is systemd, then cgroupfs when
//     the cgroup hierarchy is writable, then process.
func New(name string, cfg ProcessConfig) (Isolator, error) {
	switch name {
	case BackendAuto, "", BackendProcess:
		p, err := NewProcess(cfg)
		if err != nil {
			return nil, err
		}
		return p, nil
	case BackendSystemd, BackendCgroupfs:
		return nil, fmt.Errorf("isolator %q: not implemented yet in this build; use --isolator process", name)
	}
	return nil, fmt.Errorf("isolator %q: unknown; use one of auto, process, systemd, cgroupfs", name)
}
