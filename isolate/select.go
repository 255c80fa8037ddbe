package isolate

import (
	"context"
	"fmt"
	"os"
)

// Backend names accepted by Open (the agent's --isolator flag).
const (
	BackendAuto     = "auto"
	BackendProcess  = "process"
	BackendSystemd  = "systemd"
	BackendCgroupfs = "cgroupfs"
)

// Open returns the isolator backend called name, and a sentence saying which
// backend it is and why, for the agent's log:
//
//   - "systemd": transient units in clusterd.slice (NewSystemd);
//   - "cgroupfs": processes in cgroups clusterd writes itself (NewCgroupfs);
//   - "process": plain processes, no limits (NewProcess);
//   - "auto" or "": systemd when PID 1 is systemd and its bus answers, else
//     cgroupfs when the cgroup hierarchy is writable, else process.
//
// Every backend keeps its checkpoints, sandboxes and logs under cfg.Dir.
func Open(ctx context.Context, name string, cfg ProcessConfig) (Isolator, string, error) {
	switch name {
	case BackendProcess:
		p, err := NewProcess(cfg)
		return orNil(p, err), "process backend (--isolator process): tasks run without resource limits", err
	case BackendSystemd:
		s, err := NewSystemd(ctx, systemdConfig(cfg))
		return orNil(s, err), "systemd backend (--isolator systemd)", err
	case BackendCgroupfs:
		c, err := NewCgroupfs(CgroupConfig{Process: cfg})
		return orNil(c, err), "cgroupfs backend (--isolator cgroupfs)", err
	case BackendAuto, "":
		return openAuto(ctx, cfg)
	}
	return nil, "", fmt.Errorf("isolator %q: unknown; use one of auto, systemd, cgroupfs, process", name)
}

func openAuto(ctx context.Context, cfg ProcessConfig) (Isolator, string, error) {
	var whyNotSystemd string
	if systemdBooted() {
		s, err := NewSystemd(ctx, systemdConfig(cfg))
		if err == nil {
			return s, "systemd backend (auto): PID 1 is systemd and its D-Bus answers", nil
		}
		whyNotSystemd = fmt.Sprintf("PID 1 is systemd but %v", err)
	} else {
		whyNotSystemd = "PID 1 is not systemd"
	}
	version, writable, why := DetectCgroups("")
	if writable {
		c, err := NewCgroupfs(CgroupConfig{Process: cfg})
		if err == nil {
			return c, fmt.Sprintf("cgroupfs backend (auto, cgroup v%d): %s; %s", version, whyNotSystemd, why), nil
		}
		why = err.Error()
	}
	p, err := NewProcess(cfg)
	return orNil(p, err), fmt.Sprintf("process backend (auto): %s; %s; tasks run WITHOUT resource limits", whyNotSystemd, why), err
}

// systemdBooted is sd_booted(3): systemd creates /run/systemd/system when it
// runs as the init system.
func systemdBooted() bool {
	fi, err := os.Stat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

func systemdConfig(cfg ProcessConfig) SystemdConfig {
	return SystemdConfig{Dir: cfg.Dir, Logger: cfg.Logger, Now: cfg.Now}
}

// orNil keeps a typed nil pointer from becoming a non-nil Isolator.
func orNil[T Isolator](iso T, err error) Isolator {
	if err != nil {
		return nil
	}
	return iso
}
