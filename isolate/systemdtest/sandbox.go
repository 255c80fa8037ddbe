// Package systemdtest runs tests against a real, private systemd.
//
// The machines clusterd is built and tested on do not run systemd as PID 1,
// yet systemd is installed; this package boots one as PID 1 of fresh
// namespaces, following the recipe of TESTING.md:
//
//  1. setsid unshare --pid --fork --kill-child --mount --uts --ipc --mount-proc BOOT_SCRIPT
//  2. BOOT_SCRIPT makes every mount private, mounts a tmpfs on /run, a
//     private /sys/fs/cgroup (bind mounts of the machine's hierarchies on a
//     fresh tmpfs), makes /proc/sys read-only, masks (links to /dev/null in
//     /run/systemd/system) every unit that would touch the machine, writes a
//     sandbox.target that wants dbus.socket and journald, and execs
//     /lib/systemd/systemd --system --unit=sandbox.target.
//  3. Boot waits until `systemctl is-system-running` answers running or
//     degraded; commands then run inside with
//     nsenter -t PID -m -p -u -i -- CMD, where the system bus is at
//     /run/dbus/system_bus_socket and systemd's private socket at
//     /run/systemd/private.
//  4. Close kills the sandbox's init with SIGKILL (everything inside dies
//     with its pid namespace, its mounts with its mount namespace) and
//     rmdirs the cgroups the sandbox created.
//
// Hazards, seen here: unmasked, systemd-tmpfiles-setup empties the
// machine's real /tmp (deleting other programs' files); and a systemd given
// the machine's /sys/fs/cgroup tmpfs remounts it read-only for the whole
// machine and litters it with mount points. Hence the masks, the private
// /sys/fs/cgroup, and the tests that check /tmp, /dev, /sys/fs/cgroup and
// the mount table are unchanged afterwards.
//
// Rules the package keeps:
//   - Sandboxes never run at once (they share the machine's cgroup
//     hierarchies): Boot holds an flock on
//     os.TempDir()/clusterd-systemd-sandbox.lock (never deleted) until
//     Close, so parallel test binaries wait for each other.
//   - It cleans up: Close (registered with t.Cleanup) kills the sandbox and
//     removes, with rmdir only and deepest first, the cgroup directories
//     that did not exist before Boot, only under systemd-named (*.slice,
//     *.scope, *.service) top-level directories of each hierarchy.
//   - It never signals a process of the machine: the only process it kills
//     is the init it started (checked to still be unshare's child), and,
//     if that one hangs, the unshare it started.
//   - A test binary killed outright (SIGKILL, crash) takes its sandbox with
//     it (unshare --kill-child under a Pdeathsig), but cannot clean up: the
//     lock file records the running sandbox's boot dir and pre-boot cgroup
//     snapshot, and the next Boot removes what such a sandbox left (empty
//     cgroups, boot dir). Units with PrivateTmp= running at that moment
//     leave their /tmp/systemd-private-* directories.
//   - Sandboxes do not nest: Boot inside a sandbox fails.
//
// What runs inside can use transient units and slices (systemd-run, D-Bus),
// MemoryMax (memory.limit_in_bytes on the v1 memory hierarchy here),
// CPUQuota (cpu.cfs_quota_us), DynamicUser=yes, ProtectSystem=strict and
// the journal (volatile, in the private /run). It shares the machine's
// network, file systems (/tmp included) and devices; /proc/sys is
// read-only.
//
// Tests use it with
//
//	func TestX(t *testing.T) {
//		if !systemdtest.Run(t) {
//			return
//		}
//		// inside: talk to systemd
//	}
package systemdtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// EnvMarker is set to "1" in the environment of a test binary that Run
// re-runs inside a sandbox.
const EnvMarker = "CLUSTERD_SYSTEMD_SANDBOX"

// Timeouts. Every wait is bounded.
const (
	bootTimeout    = 30 * time.Second
	initTimeout    = 5 * time.Second
	teardownWait   = 15 * time.Second
	rmdirRetryTime = 5 * time.Second
)

const cgroupRoot = "/sys/fs/cgroup"

// lockPath is the file whose flock serializes sandboxes machine-wide.
func lockPath() string {
	return filepath.Join(os.TempDir(), "clusterd-systemd-sandbox.lock")
}

// Sandbox is a private systemd booted in fresh namespaces.
type Sandbox struct {
	// PID is the sandbox's init (systemd), as seen from outside.
	PID int

	id      string // marker in the boot script's path and init's environment
	dir     string // temp dir with the boot script and boot log
	logPath string
	pidNS   uint64 // inode of the sandbox's pid namespace

	booted   time.Duration // from lock taken to systemd running
	unshare  *exec.Cmd
	exited   chan struct{} // closed once unshare was waited for
	lock     *os.File
	cgBefore map[string]bool // every dir under the systemd-named top-level dirs, before Boot

	closeOnce sync.Once
	closeErr  error
}

// Available says why no sandbox can be booted here ("" when one can).
func Available() string {
	if os.Getenv(EnvMarker) == "1" {
		// The outer sandbox holds the lock: booting would wait forever.
		return "already inside a sandbox (sandboxes do not nest)"
	}
	if os.Geteuid() != 0 {
		return "needs root"
	}
	for _, p := range []string{"/lib/systemd/systemd", "/bin/bash"} {
		if _, err := os.Stat(p); err != nil {
			return "no " + p
		}
	}
	for _, c := range []string{"unshare", "nsenter", "systemctl", "mountpoint"} {
		if _, err := exec.LookPath(c); err != nil {
			return "no " + c
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return "no cgroup v1/hybrid layout at " + cgroupRoot
	}
	return ""
}

// Boot boots a sandbox and waits until its systemd is running (or
// degraded), at most 30 s. t.Cleanup closes it. It skips t where no
// sandbox can be booted (not root, no systemd).
func Boot(t testing.TB) *Sandbox {
	t.Helper()
	if os.Getenv(EnvMarker) == "1" {
		t.Fatal("systemdtest.Boot called inside a sandbox: sandboxes do not nest")
	}
	if why := Available(); why != "" {
		t.Skip("systemd sandbox unavailable: " + why)
	}
	s, err := boot(t.Logf)
	if s != nil {
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("systemd sandbox teardown: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("systemd sandbox: %v", err)
	}
	t.Logf("systemd sandbox %s booted in %v (init pid %d)", s.id, s.booted.Round(time.Millisecond), s.PID)
	return s
}

// BootNoTest is Boot for programs (no testing.TB): the caller must Close.
// logf may be nil.
func BootNoTest(logf func(string, ...any)) (*Sandbox, error) {
	if why := Available(); why != "" {
		return nil, errors.New("systemd sandbox unavailable: " + why)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s, err := boot(logf)
	if err != nil && s != nil {
		if cerr := s.Close(); cerr != nil {
			err = fmt.Errorf("%w (teardown: %v)", err, cerr)
		}
		return nil, err
	}
	return s, err
}

// boot returns a non-nil Sandbox, to be closed, whenever it started anything.
func boot(logf func(string, ...any)) (*Sandbox, error) {
	lock, err := acquireLock(logf)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	s := &Sandbox{lock: lock, exited: make(chan struct{})}
	recoverStale(lock, logf)
	if s.cgBefore, err = snapshotCgroups(); err != nil {
		s.releaseLock()
		return nil, err
	}
	s.dir, err = os.MkdirTemp("", "clusterd-systemd-sandbox-")
	if err != nil {
		s.releaseLock()
		return nil, err
	}
	s.id = filepath.Base(s.dir)
	if err := writeState(lock, s.dir, s.cgBefore); err != nil {
		os.RemoveAll(s.dir)
		s.releaseLock()
		return nil, err
	}
	script := filepath.Join(s.dir, "boot.sh")
	if err := os.WriteFile(script, []byte(bootScript(s.id)), 0o700); err != nil {
		os.RemoveAll(s.dir)
		s.releaseLock()
		return nil, err
	}
	s.logPath = filepath.Join(s.dir, "boot.log")
	logFile, err := os.Create(s.logPath)
	if err != nil {
		os.RemoveAll(s.dir)
		s.releaseLock()
		return nil, err
	}
	defer logFile.Close()

	// --kill-child: should this process die, unshare dies (Pdeathsig) and
	// takes the sandbox's init, hence the whole sandbox, with it.
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts", "--ipc", "--mount-proc", script)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), EnvMarker+"=")
	// Pdeathsig fires when the thread that started the child exits: start
	// unshare from a locked thread that lives until unshare is reaped.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			runtime.UnlockOSThread()
			return
		}
		started <- nil
		cmd.Wait()
		close(s.exited)
		// The thread exits with the goroutine (still locked): harmless.
	}()
	if err := <-started; err != nil {
		os.RemoveAll(s.dir)
		s.releaseLock()
		return nil, fmt.Errorf("start unshare: %w", err)
	}
	s.unshare = cmd

	if err := s.findInit(); err != nil {
		return s, fmt.Errorf("%w\n%s", err, s.bootLog())
	}
	if err := s.waitRunning(logf); err != nil {
		return s, fmt.Errorf("%w\n%s", err, s.bootLog())
	}
	s.booted = time.Since(start)
	return s, nil
}

func acquireLock(logf func(string, ...any)) (*os.File, error) {
	f, err := os.OpenFile(lockPath(), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("sandbox lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		return f, nil
	}
	logf("waiting for another systemd sandbox to finish (lock %s)", lockPath())
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("sandbox lock: %w", err)
		}
	}
}

// The lock file also records the running sandbox: its boot dir and the
// cgroup snapshot taken before it booted; Close empties it. A sandbox whose
// test binary was SIGKILLed dies with it (unshare --kill-child, Pdeathsig)
// but leaves that record, its boot dir and empty cgroups: the next Boot,
// holding the lock, removes those (rmdir only, dirs absent from the record).

func writeState(lock *os.File, dir string, before map[string]bool) error {
	var b strings.Builder
	b.WriteString("dir " + dir + "\n")
	for p := range before {
		b.WriteString("cgroup " + p + "\n")
	}
	if err := lock.Truncate(0); err != nil {
		return fmt.Errorf("sandbox lock: %w", err)
	}
	if _, err := lock.WriteAt([]byte(b.String()), 0); err != nil {
		return fmt.Errorf("sandbox lock: %w", err)
	}
	return lock.Sync()
}

func recoverStale(lock *os.File, logf func(string, ...any)) {
	st, err := lock.Stat()
	if err != nil || st.Size() == 0 {
		return
	}
	b := make([]byte, st.Size())
	n, _ := lock.ReadAt(b, 0)
	stale := &Sandbox{cgBefore: map[string]bool{}}
	for _, line := range strings.Split(string(b[:n]), "\n") {
		if p, ok := strings.CutPrefix(line, "dir "); ok {
			stale.dir = p
		} else if p, ok := strings.CutPrefix(line, "cgroup "); ok {
			stale.cgBefore[p] = true
		}
	}
	logf("cleaning up after a systemd sandbox that was not closed (%s): cgroups %v", stale.dir, stale.NewCgroups())
	if err := stale.removeCgroups(); err != nil {
		logf("%v", err)
	}
	if strings.HasPrefix(stale.dir, filepath.Join(os.TempDir(), "clusterd-systemd-sandbox-")) {
		os.RemoveAll(stale.dir)
	}
	lock.Truncate(0)
}

func (s *Sandbox) releaseLock() {
	if s.lock != nil {
		s.lock.Truncate(0)
		unix.Flock(int(s.lock.Fd()), unix.LOCK_UN)
		s.lock.Close()
		s.lock = nil
	}
}

// findInit finds unshare's forked child, the sandbox's init.
func (s *Sandbox) findInit() error {
	upid := s.unshare.Process.Pid
	deadline := time.Now().Add(initTimeout)
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", upid, upid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, err := strconv.Atoi(f[0])
			if err == nil {
				ns, err := nsInode(pid, "pid")
				own, err2 := nsInode(os.Getpid(), "pid")
				if err == nil && err2 == nil && ns != own {
					s.PID, s.pidNS = pid, ns
					return nil
				}
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("unshare exited before the sandbox's init started: %v", s.unshare.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no sandbox init after %v", initTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Sandbox) waitRunning(logf func(string, ...any)) error {
	deadline := time.Now().Add(bootTimeout)
	last := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, _ := s.Command(ctx, "systemctl", "is-system-running").CombinedOutput()
		cancel()
		last = strings.TrimSpace(string(out))
		switch last {
		case "running":
			return nil
		case "degraded":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			failed, _ := s.Command(ctx, "systemctl", "--failed", "--no-pager", "--no-legend").CombinedOutput()
			cancel()
			logf("systemd sandbox is degraded; failed units:\n%s", failed)
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("sandbox's systemd exited while booting (%v)", s.unshare.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("systemd not running after %v: is-system-running says %q", bootTimeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Sandbox) bootLog() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return "boot log:\n" + string(b)
}

// Command returns a command that runs name inside the sandbox (nsenter into
// its mount, pid, uts and ipc namespaces), in the caller's working
// directory. The command gets its own process group; cancelling ctx kills
// that group, the part inside the sandbox included.
func (s *Sandbox) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	nsArgs := []string{"-t", strconv.Itoa(s.PID), "-m", "-p", "-u", "-i"}
	if wd, err := os.Getwd(); err == nil {
		nsArgs = append(nsArgs, "--wd="+wd)
	}
	nsArgs = append(nsArgs, "--", name)
	cmd := exec.CommandContext(ctx, "nsenter", append(nsArgs, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// nsenter forks the command and does not forward signals: kill the
		// whole group, which the child inside shares.
		if cmd.Process == nil {
			return nil
		}
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Close tears the sandbox down: SIGKILL to its init, wait until every
// process of its pid namespace is gone, rmdir the cgroups it created,
// remove the boot script, release the lock. Idempotent.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Sandbox) close() error {
	defer s.releaseLock()
	var errs []error
	if s.unshare != nil {
		errs = append(errs, s.kill())
		errs = append(errs, s.waitNamespaceEmpty())
	}
	errs = append(errs, s.removeCgroups())
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}

func (s *Sandbox) kill() error {
	upid := s.unshare.Process.Pid
	// Kill init only while it is still unshare's child: a pid the kernel
	// reused for a machine process is never signalled.
	if s.PID > 0 && ppidOf(s.PID) == upid {
		if err := syscall.Kill(s.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill sandbox init %d: %w", s.PID, err)
		}
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(teardownWait):
	}
	// unshare itself is ours: kill it (and, through --kill-child, init).
	s.unshare.Process.Kill()
	select {
	case <-s.exited:
		return fmt.Errorf("unshare %d did not exit after its child was killed", upid)
	case <-time.After(teardownWait):
		return fmt.Errorf("unshare %d does not exit", upid)
	}
}

// waitNamespaceEmpty waits until no process is left in the sandbox's pid
// namespace.
func (s *Sandbox) waitNamespaceEmpty() error {
	if s.pidNS == 0 {
		return nil
	}
	deadline := time.Now().Add(teardownWait)
	for {
		left := s.processesInside()
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still in the sandbox's pid namespace", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesInside lists the pids (as seen from here) of processes in the
// sandbox's pid namespace or marked with its id.
func (s *Sandbox) processesInside() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := nsInode(pid, "pid"); err == nil && s.pidNS != 0 && ns == s.pidNS {
			pids = append(pids, pid)
			continue
		}
		if s.id == "" {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if bytes.Contains(cmdline, []byte(s.id)) || bytes.Contains(environ, []byte("CLUSTERD_SANDBOX_ID="+s.id)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func nsInode(pid int, ns string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, ns), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

func ppidOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return ppid
}

// hierarchies lists the cgroup hierarchies mounted under /sys/fs/cgroup
// (one directory per mount; symlinks such as cpu,cpuacct skipped).
func hierarchies() ([]string, error) {
	entries, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(cgroupRoot, e.Name())
		var st unix.Statfs_t
		if unix.Statfs(p, &st) != nil {
			continue
		}
		if st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC {
			dirs = append(dirs, p)
		}
	}
	return dirs, nil
}

// systemdNamed reports whether a top-level cgroup name is one systemd
// creates (-.slice children, init.scope, ...): the only trees teardown
// looks into. Everything else (other programs' cgroups) is never touched.
func systemdNamed(name string) bool {
	return strings.HasSuffix(name, ".slice") || strings.HasSuffix(name, ".scope") || strings.HasSuffix(name, ".service")
}

// cgroupDirs lists every directory under the systemd-named top-level
// directories of every hierarchy.
func cgroupDirs() (map[string]bool, error) {
	hs, err := hierarchies()
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, h := range hs {
		tops, err := os.ReadDir(h)
		if err != nil {
			return nil, err
		}
		for _, top := range tops {
			if !top.IsDir() || !systemdNamed(top.Name()) {
				continue
			}
			filepath.WalkDir(filepath.Join(h, top.Name()), func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs[p] = true
				}
				return nil
			})
		}
	}
	return dirs, nil
}

func snapshotCgroups() (map[string]bool, error) {
	dirs, err := cgroupDirs()
	if err != nil {
		return nil, fmt.Errorf("snapshot cgroups: %w", err)
	}
	return dirs, nil
}

// NewCgroups lists the cgroup directories that exist now but did not
// before Boot (after Close: what teardown could not remove).
func (s *Sandbox) NewCgroups() []string {
	now, _ := cgroupDirs()
	var fresh []string
	for p := range now {
		if !s.cgBefore[p] {
			fresh = append(fresh, p)
		}
	}
	slices.Sort(fresh)
	return fresh
}

// removeCgroups rmdirs, deepest first, the cgroup directories that did not
// exist before Boot. rmdir only: a cgroup still holding a process (or a
// child) stays, and is reported.
func (s *Sandbox) removeCgroups() error {
	if s.cgBefore == nil {
		return nil
	}
	deadline := time.Now().Add(rmdirRetryTime)
	for {
		fresh := s.NewCgroups()
		if len(fresh) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroups left behind: %v", fresh)
		}
		// Deepest first.
		slices.SortFunc(fresh, func(a, b string) int {
			if d := strings.Count(b, "/") - strings.Count(a, "/"); d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		var failed []string
		for _, p := range fresh {
			if err := unix.Rmdir(p); err != nil && !errors.Is(err, unix.ENOENT) {
				failed = append(failed, fmt.Sprintf("%s: %v", p, err))
			}
		}
		if len(failed) == 0 {
			continue // check nothing new appeared
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroups left behind:\n%s", strings.Join(failed, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Run makes the calling test run inside a private systemd. Outside the
// sandbox, it boots one, re-runs the current test binary inside its
// namespaces (just this test, -test.v -test.count=1, with the
// CLUSTERD_SYSTEMD_SANDBOX=1 marker in its environment), streams the
// child's output into t.Log, fails t if the child failed or ran no test,
// tears the sandbox down and returns false: the caller returns at once.
// Inside (the marker is set) it returns true and the test carries on,
// talking to systemd at /run/dbus/system_bus_socket and
// /run/systemd/private. Where no sandbox can be booted it skips t.
func Run(t *testing.T) (inside bool) {
	t.Helper()
	if os.Getenv(EnvMarker) == "1" {
		return true
	}
	s := Boot(t)
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("systemd sandbox teardown: %v", err)
		}
	}()

	args := []string{"-test.run", runPattern(t.Name()), "-test.v", "-test.count=1"}
	if f := flag.Lookup("test.timeout"); f != nil && f.Value.String() != "0s" {
		args = append(args, "-test.timeout="+f.Value.String())
	}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := s.Command(context.Background(), exe, args...)
	cmd.Env = append(os.Environ(), EnvMarker+"=1")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			t.Log("sandbox| " + line)
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-done

	name := t.Name()
	switch {
	case err != nil:
		t.Errorf("test inside the systemd sandbox failed: %v", err)
	case strings.Contains(out.String(), "--- SKIP: "+name+" "):
		s.Close()
		t.Skip("skipped inside the systemd sandbox")
	case !strings.Contains(out.String(), "--- PASS: "+name+" "):
		t.Errorf("test inside the systemd sandbox did not run (no %q in its output)", "--- PASS: "+name)
	}
	return false
}

// runPattern is a -test.run pattern matching exactly the test (or subtest)
// name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
