package systemdtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// run runs a command inside the sandbox, bounded, and returns its output.
func run(t *testing.T, s *Sandbox, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.Command(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, s *Sandbox, name string, args ...string) string {
	t.Helper()
	out, err := run(t, s, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// hostState is what a sandbox must leave as it found it.
type hostState struct {
	cgroupTop map[string][]string // hierarchy -> its systemd-named top-level directories
	cgroupFS  []string            // entries of /sys/fs/cgroup
	dev       []string            // entries of /dev
	mounts    []string            // mount point, per-mount and superblock options of /, /dev*, /proc, /sys*
}

func snapshotHost(t *testing.T) hostState {
	t.Helper()
	st := hostState{cgroupTop: map[string][]string{}}
	hs, err := hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		var dirs []string
		for _, e := range listDir(t, h) {
			// Only systemd-named ones: other programs' cgroups may come
			// and go meanwhile.
			if fi, err := os.Stat(filepath.Join(h, e)); err == nil && fi.IsDir() && systemdNamed(e) {
				dirs = append(dirs, e)
			}
		}
		st.cgroupTop[h] = dirs
	}
	st.cgroupFS = listDir(t, cgroupRoot)
	st.dev = listDir(t, "/dev")
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		mp := f[4]
		if mp == "/" || mp == "/proc" || mp == "/sys" || strings.HasPrefix(mp, "/sys/") || mp == "/dev" || strings.HasPrefix(mp, "/dev/") {
			st.mounts = append(st.mounts, mp+" "+f[5]+" "+f[len(f)-1])
		}
	}
	return st
}

func (before hostState) check(t *testing.T, after hostState) {
	t.Helper()
	for h, dirs := range before.cgroupTop {
		if !slices.Equal(dirs, after.cgroupTop[h]) {
			t.Errorf("top-level cgroups of %s changed: before %v, after %v", h, dirs, after.cgroupTop[h])
		}
	}
	if len(before.cgroupTop) != len(after.cgroupTop) {
		t.Errorf("cgroup hierarchies changed: before %d, after %d", len(before.cgroupTop), len(after.cgroupTop))
	}
	if !slices.Equal(before.cgroupFS, after.cgroupFS) {
		t.Errorf("%s changed: before %v, after %v", cgroupRoot, before.cgroupFS, after.cgroupFS)
	}
	if !slices.Equal(before.dev, after.dev) {
		t.Errorf("/dev changed: before %v, after %v", before.dev, after.dev)
	}
	if !slices.Equal(before.mounts, after.mounts) {
		t.Errorf("mounts changed:\nbefore %q\nafter  %q", before.mounts, after.mounts)
	}
}

func TestSandboxBootsRunsTransientUnitsAndLeavesNothingBehind(t *testing.T) {
	if why := Available(); why != "" {
		t.Skip(why)
	}
	before := snapshotHost(t)

	s := Boot(t)
	pid, id := s.PID, s.id

	out := mustRun(t, s, "systemd-run", "--unit=probe", "--slice=clusterd.slice", "--wait",
		"-p", "MemoryMax=64M", "/bin/sh", "-c", "echo ok")
	t.Logf("probe: %s", out)

	mustRun(t, s, "systemd-run", "--unit=sleeper", "--slice=clusterd.slice",
		"-p", "MemoryMax=64M", "-p", "CPUQuota=50%", "sleep", "60")
	memCG := filepath.Join(cgroupRoot, "memory", "clusterd.slice", "sleeper.service")
	limit, err := os.ReadFile(filepath.Join(memCG, "memory.limit_in_bytes"))
	if err != nil {
		t.Fatalf("sleeper's memory cgroup: %v", err)
	}
	if got := strings.TrimSpace(string(limit)); got != strconv.Itoa(64<<20) {
		t.Errorf("memory.limit_in_bytes = %s, want %d", got, 64<<20)
	}
	// The service's process joins its cgroups right after systemd forks it.
	var procs []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if procs, err = os.ReadFile(filepath.Join(memCG, "cgroup.procs")); err != nil || len(strings.Fields(string(procs))) > 0 {
			break
		}
	}
	if err != nil || len(strings.Fields(string(procs))) == 0 {
		t.Errorf("no process in %s (%v)", memCG, err)
	}
	quota, err := os.ReadFile(filepath.Join(cgroupRoot, "cpu", "clusterd.slice", "sleeper.service", "cpu.cfs_quota_us"))
	if err != nil {
		t.Errorf("sleeper's cpu cgroup: %v", err)
	} else if got := strings.TrimSpace(string(quota)); got != "50000" {
		t.Errorf("cpu.cfs_quota_us = %s, want 50000", got)
	}

	// DynamicUser allocates a uid from systemd's dynamic range.
	out = mustRun(t, s, "systemd-run", "--wait", "--pipe", "--quiet", "-p", "DynamicUser=yes",
		"-p", "ProtectSystem=strict", "/usr/bin/id", "-u")
	if uid, err := strconv.Atoi(strings.TrimSpace(out)); err != nil || uid < 61184 || uid > 65519 {
		t.Errorf("DynamicUser=yes ran as uid %q, want 61184..65519", strings.TrimSpace(out))
	}

	// The journal has the probe's output.
	var journal string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		journal, _ = run(t, s, "journalctl", "-u", "probe", "--no-pager", "-o", "cat")
		if strings.Contains(journal, "ok") {
			break
		}
	}
	if !strings.Contains(journal, "ok") {
		t.Errorf("journal of probe.service lacks its output:\n%s", journal)
	}

	// Kernel settings are read-only inside.
	if out, err := run(t, s, "/bin/sh", "-c", "echo 512 > /proc/sys/net/unix/max_dgram_qlen"); err == nil {
		t.Errorf("writing a sysctl inside the sandbox succeeded: %s", out)
	}

	if units, err := run(t, s, "systemctl", "list-units", "--state=active", "--no-pager", "--no-legend", "--plain"); err == nil {
		t.Logf("active units:\n%s", units)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		if ns, err := nsInode(pid, "pid"); err == nil && ns == s.pidNS {
			t.Errorf("sandbox init %d still alive", pid)
		}
	}
	if left := s.processesInside(); len(left) > 0 {
		t.Errorf("processes of sandbox %s left: %v", id, left)
	}
	if left := s.NewCgroups(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("boot dir %s left (%v)", s.dir, err)
	}
	before.check(t, snapshotHost(t))
}

func TestSandboxLeavesHostTmpAlone(t *testing.T) {
	if why := Available(); why != "" {
		t.Skip(why)
	}
	// Canaries in the machine's temp dir, the way other programs leave
	// files there: a fresh file, an old one (older than any tmpfiles age)
	// and a directory with content. Debian's tmpfiles rule for /tmp (D)
	// would empty it at boot, whatever the age.
	dir, err := os.MkdirTemp("", "clusterd-sandbox-canary-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	old := time.Now().Add(-30 * 24 * time.Hour)
	canaries := []string{dir + ".fresh", dir + ".old", filepath.Join(dir, "inside")}
	defer os.Remove(canaries[0])
	defer os.Remove(canaries[1])
	for _, c := range canaries {
		if err := os.WriteFile(c, []byte("canary"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Chtimes(canaries[1], old, old)
	os.Chtimes(canaries[2], old, old)
	os.Chtimes(dir, old, old)
	check := func(when string) {
		t.Helper()
		for _, c := range canaries {
			if b, err := os.ReadFile(c); err != nil || string(b) != "canary" {
				t.Fatalf("canary %s damaged %s: %q, %v", c, when, b, err)
			}
		}
	}

	s := Boot(t)
	// /tmp is shared: the sandbox sees the canaries too.
	mustRun(t, s, "test", "-f", canaries[2])
	time.Sleep(3 * time.Second)
	check("while the sandbox runs")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	check("after the sandbox")
}

func TestRunReRunsTheTestInside(t *testing.T) {
	if !Run(t) {
		return
	}
	if os.Getenv(EnvMarker) != "1" {
		t.Fatalf("%s not set inside", EnvMarker)
	}
	// /proc is the sandbox's: its PID 1 is systemd.
	comm, err := os.ReadFile("/proc/1/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "systemd" {
		t.Fatalf("PID 1 inside is %q (%v), want systemd", comm, err)
	}
	t.Logf("test runs as pid %d inside", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := execOut(ctx, "systemctl", "is-system-running")
	if s := strings.TrimSpace(out); s != "running" && s != "degraded" {
		t.Fatalf("systemctl is-system-running = %q", s)
	}
	for _, sock := range []string{"/run/dbus/system_bus_socket", "/run/systemd/private"} {
		if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Errorf("%s: %v", sock, err)
		}
	}
	if out, err := execOut(ctx, "systemd-run", "--wait", "--quiet", "--slice=clusterd.slice", "/bin/true"); err != nil {
		t.Fatalf("systemd-run inside: %v\n%s", err, out)
	}
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestA":          "^TestA$",
		"TestA/sub_case": "^TestA$/^sub_case$",
		"TestA/x.y(1)":   `^TestA$/^x\.y\(1\)$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}

func execOut(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}
