package isolate

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func testPaths(id string) unitPaths {
	dir := "/var/lib/clusterd/agent/tasks/" + id
	return unitPaths{
		Unit: unitName(id), Slice: DefaultSlice, TaskDir: dir, Sandbox: dir + "/sandbox",
		Stdout: dir + "/stdout", Stderr: dir + "/stderr", ExitRecord: dir + "/" + exitRecordFile,
		TasksMax: DefaultTasksMax,
	}
}

// props renders unitProperties as name -> values (DeviceAllow repeats).
func props(t *testing.T, spec LaunchSpec) map[string][]dbus.Variant {
	t.Helper()
	ps, err := unitProperties(spec, testPaths(spec.TaskID))
	if err != nil {
		t.Fatalf("unitProperties: %v", err)
	}
	out := map[string][]dbus.Variant{}
	for _, p := range ps {
		out[p.Name] = append(out[p.Name], p.Value)
	}
	return out
}

func TestSystemdUnitIsHardenedByDefault(t *testing.T) {
	spec := LaunchSpec{TaskID: "web.1", Cmd: "echo $HOME", Limits: Limits{CPUs: 0.5, MemMiB: 64}, KillGrace: 10 * time.Second}
	p := props(t, spec)
	for _, name := range []string{"DynamicUser", "NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
		"ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname",
		"RestrictSUIDSGID", "LockPersonality", "RestrictRealtime", "PrivateUsers", "SendSIGKILL", "AddRef"} {
		if len(p[name]) != 1 || p[name][0].Value() != true {
			t.Errorf("%s = %v; want true", name, p[name])
		}
	}
	want := map[string]any{
		"Type": "exec", "Slice": DefaultSlice, "ProtectSystem": "strict", "ProtectHome": "yes",
		"KillMode": "control-group", "CollectMode": "inactive-or-failed",
		"CPUQuotaPerSecUSec": uint64(500000), "CPUWeight": uint64(50), "MemoryMax": uint64(64 << 20),
		"MemorySwapMax": uint64(0), "TasksMax": uint64(DefaultTasksMax), "TimeoutStopUSec": uint64(10e6),
		"CapabilityBoundingSet": uint64(0), "RestrictNamespaces": uint64(0), "UMask": uint32(0o077),
		"WorkingDirectory":           "/var/lib/clusterd/agent/tasks/web.1/sandbox",
		"StandardOutputFileToAppend": "/var/lib/clusterd/agent/tasks/web.1/stdout",
		"StandardErrorFileToAppend":  "/var/lib/clusterd/agent/tasks/web.1/stderr",
	}
	for name, v := range want {
		if len(p[name]) != 1 || p[name][0].Value() != v {
			t.Errorf("%s = %v; want %v", name, p[name], v)
		}
	}
	if _, ok := p["User"]; ok {
		t.Errorf("User set without spec.User: %v", p["User"])
	}
	if _, ok := p["MemoryDenyWriteExecute"]; ok {
		t.Error("MemoryDenyWriteExecute set; it breaks JITs and is left out on purpose")
	}
	start := p["ExecStartEx"][0].Value().([]execCommand)
	if len(start) != 1 || start[0].Path != "/bin/sh" || strings.Join(start[0].Args, "|") != "/bin/sh|-c|echo $HOME" ||
		strings.Join(start[0].Flags, ",") != "no-env-expand" {
		t.Errorf("ExecStartEx = %+v; want /bin/sh -c CMD without systemd's $ expansion", start)
	}
	env := strings.Join(p["Environment"][0].Value().([]string), "\n")
	for _, kv := range []string{"CLUSTERD_TASK_ID=web.1", "CLUSTERD_SANDBOX=/var/lib/clusterd/agent/tasks/web.1/sandbox", "PATH=" + basePath} {
		if !strings.Contains(env, kv) {
			t.Errorf("Environment lacks %s:\n%s", kv, env)
		}
	}
}

func TestSystemdUnitNamedUserReplacesDynamicUser(t *testing.T) {
	p := props(t, LaunchSpec{TaskID: "a", Cmd: "true", User: "nobody"})
	if _, ok := p["DynamicUser"]; ok {
		t.Error("DynamicUser set although the spec names a user")
	}
	if len(p["User"]) != 1 || p["User"][0].Value() != "nobody" {
		t.Errorf("User = %v; want nobody", p["User"])
	}
	if len(p["NoNewPrivileges"]) != 1 {
		t.Error("a named user loses the hardened sandbox")
	}
}

func TestSystemdUnitRelaxedKeepsOnlyLimits(t *testing.T) {
	p := props(t, LaunchSpec{TaskID: "a", Cmd: "true", Profile: ProfileRelaxed, Limits: Limits{MemMiB: 32}})
	for _, name := range []string{"DynamicUser", "PrivateTmp", "ProtectSystem", "PrivateDevices", "SystemCallFilter", "NoNewPrivileges", "BindPaths"} {
		if _, ok := p[name]; ok {
			t.Errorf("relaxed profile sets %s", name)
		}
	}
	if len(p["MemoryMax"]) != 1 || len(p["TasksMax"]) != 1 || len(p["KillMode"]) != 1 {
		t.Error("relaxed profile lost its limits or lifecycle settings")
	}
	if _, err := unitProperties(LaunchSpec{TaskID: "a", Profile: "yolo"}, testPaths("a")); err == nil {
		t.Error("unknown profile accepted")
	}
}

func TestSystemdUnitGPUsAllowOnlyTheirDevices(t *testing.T) {
	p := props(t, LaunchSpec{TaskID: "g", Cmd: "nvidia-smi", Limits: Limits{GPUs: []string{"1", "0"}}})
	if _, ok := p["PrivateDevices"]; ok {
		t.Error("PrivateDevices set for a GPU task; it would hide the GPUs")
	}
	var allowed []string
	for _, v := range p["DeviceAllow"] {
		for _, d := range v.Value().([]deviceAllow) {
			allowed = append(allowed, d.Path+" "+d.Access)
		}
	}
	want := "/dev/nvidia0 rw,/dev/nvidia1 rw,/dev/nvidiactl rw,/dev/nvidia-uvm rw,/dev/nvidia-uvm-tools rw"
	if got := strings.Join(allowed, ","); got != want {
		t.Errorf("DeviceAllow = %s; want %s", got, want)
	}
	if len(p["DevicePolicy"]) != 1 || p["DevicePolicy"][0].Value() != "closed" {
		t.Errorf("DevicePolicy = %v; want closed", p["DevicePolicy"])
	}
	if env := strings.Join(p["Environment"][0].Value().([]string), " "); !strings.Contains(env, "CUDA_VISIBLE_DEVICES=1,0") {
		t.Errorf("Environment lacks CUDA_VISIBLE_DEVICES=1,0: %s", env)
	}
	if _, err := unitProperties(LaunchSpec{TaskID: "g", Limits: Limits{GPUs: []string{"GPU-5e6a"}}}, testPaths("g")); err == nil {
		t.Error("a GPU UUID was accepted without a device node to confine it to")
	}
}

func TestSystemdUnitNameEscapesTaskID(t *testing.T) {
	for id, want := range map[string]string{
		"web.1":       "clusterd-web.1.service",
		"a b/c":       `clusterd-a\x20b\x2fc.service`,
		"job@2":       `clusterd-job\x402.service`,
		"x-y_z:1":     "clusterd-x-y_z:1.service",
		"ümlaut":      `clusterd-\xc3\xbcmlaut.service`,
		".hidden":     `clusterd-\x2ehidden.service`,
		"back\\slash": `clusterd-back\x5cslash.service`,
	} {
		if got := unitName(id); got != want {
			t.Errorf("unitName(%q) = %s; want %s", id, got, want)
		}
	}
	long := unitName(strings.Repeat("%", 200))
	if len(long) > 255 || !strings.HasPrefix(long, "clusterd-h") {
		t.Errorf("unitName of a long id = %s (%d bytes); want a hashed name ≤ 255", long, len(long))
	}
	if got := unitNameFromPath(unitObjectPath("clusterd-web.1.service")); got != "clusterd-web.1.service" {
		t.Errorf("object path round trip = %s", got)
	}
	if !strings.HasPrefix(string(unitObjectPath("clusterd-x.service")), taskUnitPathPrefix) {
		t.Errorf("%s does not start with %s", unitObjectPath("clusterd-x.service"), taskUnitPathPrefix)
	}
}

func TestSystemdExitRecordMapsToExit(t *testing.T) {
	for _, c := range []struct {
		rec    string
		killed bool
		mem    float64
		want   Exit
	}{
		{"success exited 0 0", false, 0, Exit{Reason: Exited, ExitCode: 0}},
		{"exit-code exited 42 0", false, 0, Exit{Reason: Exited, ExitCode: 42}},
		{"signal killed KILL 0", false, 0, Exit{Reason: Signaled, ExitCode: -1, Signal: "killed"}},
		{"core-dump dumped SEGV 0", false, 0, Exit{Reason: Signaled, ExitCode: -1, Signal: "segmentation fault"}},
		{"signal killed KILL 1", false, 32, Exit{Reason: Signaled, ExitCode: -1, Signal: "killed", Limitation: LimitationMemory, Message: "killed: out of memory (MemoryMax 32 MiB)"}},
		{"oom-kill killed KILL 0", false, 0, Exit{Reason: Signaled, ExitCode: -1, Signal: "killed", Limitation: LimitationMemory, Message: "killed: out of memory"}},
		{"success killed TERM 0", true, 0, Exit{Reason: Killed, ExitCode: -1, Message: "killed by signal terminated"}},
		{"resources none none 0", false, 0, Exit{Reason: Lost, ExitCode: -1}},
	} {
		r, err := parseExitRecord(c.rec)
		if err != nil {
			t.Fatalf("parse %q: %v", c.rec, err)
		}
		got := r.exit("t", c.killed, c.mem)
		if got.Reason != c.want.Reason || got.ExitCode != c.want.ExitCode || got.Signal != c.want.Signal ||
			got.Limitation != c.want.Limitation || (c.want.Message != "" && got.Message != c.want.Message) || got.Message == "" {
			t.Errorf("%q (killed %v) -> %+v; want %+v", c.rec, c.killed, got, c.want)
		}
	}
	if _, err := parseExitRecord("garbage"); err == nil {
		t.Error("malformed record accepted")
	}
}

var exposureLine = regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`)

// exposure runs `systemd-analyze security --offline=true` on unitText.
func exposure(t *testing.T, spec LaunchSpec) float64 {
	t.Helper()
	text, err := unitText(spec, testPaths(spec.TaskID))
	if err != nil {
		t.Fatalf("unitText: %v", err)
	}
	file := filepath.Join(t.TempDir(), unitName(spec.TaskID))
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", file).CombinedOutput()
	m := exposureLine.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s\nunit:\n%s", err, out, text)
	}
	if strings.Contains(string(out), "Unknown key") || strings.Contains(string(out), "Failed to parse") {
		t.Errorf("systemd-analyze did not understand the unit:\n%s", out)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	return score
}

func TestSystemdUnitExposureScore(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	spec := LaunchSpec{TaskID: "web.1", Cmd: `echo "100%" $HOME; exit 3`, Env: map[string]string{"Q": `a "b" %c`},
		Limits: Limits{CPUs: 1.5, MemMiB: 512}, KillGrace: 10 * time.Second}
	hardened := exposure(t, spec)
	t.Logf("hardened exposure: %.1f", hardened)
	if hardened > 2.0 {
		t.Errorf("hardened unit exposure %.1f; want ≤ 2.0", hardened)
	}
	spec.Limits.GPUs = []string{"0"}
	t.Logf("hardened with a GPU: %.1f", exposure(t, spec))
	spec.Limits.GPUs = nil
	spec.Profile = ProfileRelaxed
	relaxed := exposure(t, spec)
	t.Logf("relaxed exposure: %.1f", relaxed)
	if relaxed <= hardened {
		t.Errorf("relaxed exposure %.1f is not above hardened %.1f", relaxed, hardened)
	}
}
