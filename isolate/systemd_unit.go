package isolate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Unit settings that do not come from a LaunchSpec.
const (
	// DefaultSlice is the slice every task unit is started in.
	DefaultSlice = "clusterd.slice"
	// DefaultTasksMax caps the processes and threads of one task: a fork
	// bomb stops there instead of exhausting the machine's pids.
	DefaultTasksMax = 4096
	// ioWeight is every task's IOWeight (systemd's default is 100; set
	// explicitly so a changed default cannot tilt tasks against each other).
	ioWeight = 100
	// minStopTimeout is the least TimeoutStopUSec of a unit. systemd applies
	// that timeout to ExecStopPost too, which must have time to write the
	// exit record; a shorter kill grace (0 included: TimeoutStopUSec=0 would
	// mean "wait forever") is enforced by Kill's own SIGKILL timer instead.
	minStopTimeout = 5 * time.Second
)

// unitPaths is where one task's unit reads and writes on the host.
type unitPaths struct {
	Unit       string // clusterd-<escaped task id>.service
	Slice      string
	TaskDir    string // Dir/tasks/<task>, root-owned 0711
	Sandbox    string // TaskDir/sandbox: the working directory
	Stdout     string
	Stderr     string
	ExitRecord string // written by ExecStopPost, see exitRecordScript
	TasksMax   uint64
}

// unitName is the unit of a task: clusterd-<id>.service, with every byte
// outside [A-Za-z0-9:_.-] escaped as \xNN the way systemd-escape does. An id
// whose escaped form would pass systemd's 255-byte limit is replaced by a
// hash of it; the checkpoint records the unit name, so Recover never has to
// invert this.
func unitName(taskID string) string {
	var b strings.Builder
	for i := 0; i < len(taskID); i++ {
		c := taskID[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == ':', c == '_', c == '.' && i > 0, c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	name := "clusterd-" + b.String() + ".service"
	if len(name) > 255 {
		sum := sha256.Sum256([]byte(taskID))
		name = "clusterd-h" + hex.EncodeToString(sum[:16]) + ".service"
	}
	return name
}

// unitObjectPath is the D-Bus object of a unit.
func unitObjectPath(unit string) dbus.ObjectPath {
	return dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sdbus.PathBusEscape(unit))
}

// taskUnitPathPrefix starts the object path of every clusterd-*.service.
var taskUnitPathPrefix = string(unitObjectPath("clusterd-")) // "-" escapes to _2d; no trailing byte

// execCommand is one entry of ExecStartEx/ExecStopPostEx: a(sasas).
type execCommand struct {
	Path  string
	Args  []string
	Flags []string
}

// bindPath is one entry of BindPaths: a(ssbt).
type bindPath struct {
	Source, Dest  string
	IgnoreMissing bool
	Flags         uint64
}

// deviceAllow is one entry of DeviceAllow: a(ss).
type deviceAllow struct {
	Path, Access string
}

// filterList is a (allow-list, names) pair: SystemCallFilter,
// RestrictAddressFamilies.
type filterList struct {
	AllowList bool
	Names     []string
}

// setting is one unit setting, kept both as the D-Bus property that starts
// the transient unit and as its unit-file line (for `systemd-analyze
// security`), so the two cannot drift apart.
type setting struct {
	prop dbus.Variant
	name string // D-Bus property name
	key  string // unit file key ("" = D-Bus only)
	text string // unit file value
}

// msRec is MS_REC, BindPaths' "recursive" flag.
const msRec = 0x4000

// exitRecordScript runs as ExecStopPost with full privileges (the "+"
// prefix) after the task's processes are gone but while its cgroup still
// exists. It writes "RESULT CODE STATUS OOMKILLS" atomically to $1: systemd's
// $SERVICE_RESULT, $EXIT_CODE and $EXIT_STATUS, and the OOM kills its memory
// cgroup counted (systemd 252 reports Result=oom-kill only on cgroup v2, so
// v1's memory.oom_control is read here). The record survives the unit being
// collected and the agent being down, which is what lets Recover report the
// real exit code of a task that ended while clusterd was not running.
const exitRecordScript = `oom=0
cg=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
if [ -n "$cg" ] && [ -r "/sys/fs/cgroup/memory$cg/memory.oom_control" ]; then
  oom=$(sed -n 's/^oom_kill //p' "/sys/fs/cgroup/memory$cg/memory.oom_control")
else
  cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
  for f in "/sys/fs/cgroup$cg/memory.events" "/sys/fs/cgroup/unified$cg/memory.events"; do
    if [ -r "$f" ]; then oom=$(sed -n 's/^oom_kill //p' "$f"); break; fi
  done
fi
printf '%s %s %s %s\n' "${SERVICE_RESULT:-none}" "${EXIT_CODE:-none}" "${EXIT_STATUS:-none}" "${oom:-0}" > "$1.tmp" && mv -f "$1.tmp" "$1"`

// unitSettings is the one definition of a task's unit. It is pure: the same
// spec and paths give the same settings, in the same order.
//
// The hardened profile (the default) scores ≤ 2.0 in `systemd-analyze
// security` (see TestSystemdUnitExposureScore). Choices worth knowing:
//
//   - DynamicUser=yes unless spec.User names a user: a fresh uid per run,
//     released when the unit ends. The working directory must be writable
//     by a uid that does not exist before the unit starts, so chown ahead is
//     impossible: the sandbox is a sticky, world-writable (01777) directory
//     inside the root-owned 0711 task directory, which cannot be listed.
//     Trade-off: a local user who knows the path can drop files into (not
//     delete the task's files from) a sandbox. StateDirectory= would avoid
//     that but moves the sandbox under /var/lib/private, away from
//     DATA/agent, where logs and the agent's GC expect it.
//   - The sandbox is writable through BindPaths= (bound onto itself), not
//     ReadWritePaths=: with PrivateTmp= a ReadWritePaths= below /tmp fails
//     with 226/NAMESPACE, and a bind mount works wherever DATA lives.
//   - stdout/stderr are append: files opened by systemd as root before it
//     drops privileges, so the task can write them but not replace them.
//   - MemoryDenyWriteExecute= is NOT set: it breaks every JIT (JVM, V8,
//     LuaJIT, PyPy), and clusterd runs arbitrary jobs.
//   - ProcSubset=pid is NOT set: it hides /proc/meminfo and /proc/cpuinfo,
//     which runtimes read to size themselves.
//   - PrivateNetwork= and IPAddressDeny= are not set: tasks serve on ports.
//   - SystemCallErrorNumber=EPERM: a filtered syscall fails instead of
//     killing the task with SIGSYS, which programs probing for optional
//     syscalls survive.
//
// The relaxed profile keeps only the resource limits, the working
// directory, logs and lifecycle settings; it runs as spec.User, or root.
func unitSettings(spec LaunchSpec, p unitPaths) ([]setting, error) {
	var out []setting
	add := func(name string, v any, key, text string) {
		out = append(out, setting{prop: dbus.MakeVariant(v), name: name, key: key, text: text})
	}
	yes := func(name string) { add(name, true, name, "yes") }
	str := func(name, v string) { add(name, v, name, v) }

	add("Description", "clusterd task "+spec.TaskID, "Description", "clusterd task "+unitEscape(spec.TaskID))
	str("Slice", p.Slice)
	str("Type", "exec")
	// ":" (no-env-expand): systemd must not expand $VAR in the command; the
	// shell does.
	add("ExecStartEx", []execCommand{{Path: "/bin/sh", Args: []string{"/bin/sh", "-c", spec.Cmd}, Flags: []string{"no-env-expand"}}},
		"ExecStart", ":/bin/sh -c "+quoteUnitWord(spec.Cmd))
	add("ExecStopPostEx", []execCommand{{Path: "/bin/sh", Args: []string{"/bin/sh", "-c", exitRecordScript, "clusterd-exit-record", p.ExitRecord}, Flags: []string{"privileged", "no-env-expand"}}},
		"ExecStopPost", "+:/bin/sh -c "+quoteUnitWord(exitRecordScript)+" clusterd-exit-record "+quoteUnitWord(p.ExitRecord))
	str("WorkingDirectory", p.Sandbox)
	env := taskEnv(spec, p.Sandbox)
	var envText []string
	for _, kv := range env {
		envText = append(envText, quoteUnitWord(kv))
	}
	add("Environment", env, "Environment", strings.Join(envText, " "))
	add("StandardOutputFileToAppend", p.Stdout, "StandardOutput", "append:"+unitEscape(p.Stdout))
	add("StandardErrorFileToAppend", p.Stderr, "StandardError", "append:"+unitEscape(p.Stderr))

	// Limits.
	yes("CPUAccounting")
	yes("MemoryAccounting")
	yes("TasksAccounting")
	if c := spec.Limits.CPUs; c > 0 {
		quota := uint64(math.Round(c * 1e6)) // µs of CPU per second of wall time
		add("CPUQuotaPerSecUSec", quota, "CPUQuota", strconv.FormatFloat(c*100, 'f', -1, 64)+"%")
		w := uint64(min(max(math.Round(c*100), 1), 10000))
		add("CPUWeight", w, "CPUWeight", strconv.FormatUint(w, 10))
	}
	if m := spec.Limits.MemMiB; m > 0 {
		bytes := uint64(math.Round(m * (1 << 20)))
		add("MemoryMax", bytes, "MemoryMax", strconv.FormatUint(bytes, 10))
		add("MemorySwapMax", uint64(0), "MemorySwapMax", "0")
	}
	add("TasksMax", p.TasksMax, "TasksMax", strconv.FormatUint(p.TasksMax, 10))
	add("IOWeight", uint64(ioWeight), "IOWeight", strconv.Itoa(ioWeight))

	// Lifecycle: SIGTERM to the whole cgroup, SIGKILL after the grace; the
	// unit is collected once it is inactive and the agent released it.
	str("KillMode", "control-group")
	grace := max(spec.KillGrace, minStopTimeout)
	add("TimeoutStopUSec", uint64(grace.Microseconds()), "TimeoutStopSec", strconv.FormatInt(grace.Microseconds(), 10)+"us")
	yes("SendSIGKILL")
	str("CollectMode", "inactive-or-failed")

	if spec.Profile == ProfileRelaxed {
		if spec.User != "" {
			str("User", spec.User)
		}
		return out, nil
	}
	if spec.Profile != "" && spec.Profile != ProfileHardened {
		return nil, fmt.Errorf("unknown sandbox profile %q; use %q or %q", spec.Profile, ProfileHardened, ProfileRelaxed)
	}
	gpus, err := gpuDeviceNodes(spec.Limits.GPUs)
	if err != nil {
		return nil, err
	}
	if spec.User != "" {
		str("User", spec.User)
	} else {
		yes("DynamicUser")
	}
	yes("NoNewPrivileges")
	yes("PrivateTmp")
	str("ProtectSystem", "strict")
	add("BindPaths", []bindPath{{Source: p.Sandbox, Dest: p.Sandbox, Flags: msRec}}, "BindPaths", quoteUnitWord(p.Sandbox))
	str("ProtectHome", "yes")
	if len(gpus) == 0 {
		yes("PrivateDevices")
	} else {
		// PrivateDevices=yes would hide the GPUs; the device cgroup still
		// confines the task to the pseudo devices and its own GPUs.
		str("DevicePolicy", "closed")
		var allow []deviceAllow
		for _, d := range gpus {
			allow = append(allow, deviceAllow{Path: d, Access: "rw"})
		}
		for _, a := range allow {
			out = append(out, setting{prop: dbus.MakeVariant([]deviceAllow{a}), name: "DeviceAllow", key: "DeviceAllow", text: a.Path + " " + a.Access})
		}
	}
	yes("ProtectKernelTunables")
	yes("ProtectKernelModules")
	yes("ProtectKernelLogs")
	yes("ProtectControlGroups")
	yes("ProtectClock")
	yes("ProtectHostname")
	str("ProtectProc", "invisible")
	yes("PrivateUsers")
	yes("RestrictSUIDSGID")
	yes("LockPersonality")
	yes("RestrictRealtime")
	yes("RemoveIPC")
	add("RestrictNamespaces", uint64(0), "RestrictNamespaces", "yes") // the set of namespaces allowed: none
	add("SystemCallFilter", filterList{AllowList: true, Names: []string{"@system-service"}}, "SystemCallFilter", "@system-service")
	add("SystemCallErrorNumber", int32(1), "SystemCallErrorNumber", "EPERM")
	add("SystemCallArchitectures", []string{"native"}, "SystemCallArchitectures", "native")
	add("CapabilityBoundingSet", uint64(0), "CapabilityBoundingSet", "")
	add("AmbientCapabilities", uint64(0), "AmbientCapabilities", "")
	add("RestrictAddressFamilies", filterList{AllowList: true, Names: []string{"AF_UNIX", "AF_INET", "AF_INET6"}}, "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6")
	add("UMask", uint32(0o077), "UMask", "0077")
	return out, nil
}

// unitProperties is the D-Bus form of unitSettings, for StartTransientUnit.
// AddRef keeps the unit loaded after it ends until the agent has read how it
// ended and released it (or disconnected).
func unitProperties(spec LaunchSpec, p unitPaths) ([]sdbus.Property, error) {
	ss, err := unitSettings(spec, p)
	if err != nil {
		return nil, err
	}
	props := make([]sdbus.Property, 0, len(ss)+1)
	for _, s := range ss {
		props = append(props, sdbus.Property{Name: s.name, Value: s.prop})
	}
	props = append(props, sdbus.Property{Name: "AddRef", Value: dbus.MakeVariant(true)})
	return props, nil
}

// unitText renders unitSettings as a unit file, for `systemd-analyze
// security --offline=true` and for operators reading what clusterd asks of
// systemd.
func unitText(spec LaunchSpec, p unitPaths) (string, error) {
	ss, err := unitSettings(spec, p)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	inUnit := func(key string) bool { return key == "Description" || key == "CollectMode" }
	b.WriteString("[Unit]\n")
	for _, s := range ss {
		if inUnit(s.key) {
			fmt.Fprintf(&b, "%s=%s\n", s.key, s.text)
		}
	}
	b.WriteString("\n[Service]\n")
	for _, s := range ss {
		if s.key != "" && !inUnit(s.key) {
			fmt.Fprintf(&b, "%s=%s\n", s.key, s.text)
		}
	}
	return b.String(), nil
}

// unitEscape escapes systemd's specifier character and newlines in a unit
// file value.
func unitEscape(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	return strings.ReplaceAll(s, "\n", `\n`)
}

// quoteUnitWord quotes s as one word of a unit file command line or
// Environment= entry.
func quoteUnitWord(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '%':
			b.WriteString("%%")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// gpuDeviceNodes maps assigned GPU ids to the device nodes a task needs:
// /dev/nvidiaN per GPU plus the shared control devices. Ids are indexes
// ("0"), "nvidiaN" or "/dev/nvidiaN"; a GPU named any other way (a UUID)
// cannot be confined to its device node, so it is an error rather than a
// silently wider DeviceAllow.
func gpuDeviceNodes(ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		n := strings.TrimPrefix(strings.TrimPrefix(id, "/dev/"), "nvidia")
		if _, err := strconv.ParseUint(n, 10, 16); err != nil {
			return nil, fmt.Errorf("GPU %q: not a device index; the systemd isolator needs GPU indexes (0, 1, ...) to allow only their /dev/nvidiaN", id)
		}
		d := "/dev/nvidia" + n
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return append(out, "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"), nil
}
