// Command sandbox boots a private systemd (package systemdtest), runs a
// command inside it, tears it down and exits with the command's status.
// scripts/systemd-sandbox wraps it:
//
//	scripts/systemd-sandbox systemd-run --wait --slice=clusterd.slice /bin/true
//	scripts/systemd-sandbox go test ./isolate/...
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/clusterd/clusterd/isolate/systemdtest"
)

func main() {
	os.Exit(run())
}

func run() int {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: systemd-sandbox CMD [ARG...]\nboots a private systemd, runs CMD inside it, tears it down")
		return 2
	}
	// scripts/systemd-sandbox builds this program into a temp dir and execs
	// it: remove that dir (a running binary may be unlinked).
	if dir := os.Getenv("CLUSTERD_SANDBOX_BIN_DIR"); dir != "" && strings.HasPrefix(filepath.Base(dir), "clusterd-systemd-sandbox-bin.") {
		os.RemoveAll(dir)
		os.Unsetenv("CLUSTERD_SANDBOX_BIN_DIR")
	}
	// Signals while it boots or runs: tear down, never leave it behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)

	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "systemd-sandbox: "+format+"\n", args...)
	}
	s, err := systemdtest.BootNoTest(logf)
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer func() {
		if err := s.Close(); err != nil {
			logf("teardown: %v", err)
		}
	}()
	select {
	case sig := <-sigs:
		logf("%v while booting", sig)
		return 128 + int(sig.(syscall.Signal))
	default:
	}

	cmd := s.Command(context.Background(), os.Args[1], os.Args[2:]...)
	// Stay in the terminal's process group: the command may read it, and a
	// ^C reaches it directly.
	cmd.SysProcAttr = nil
	cmd.Cancel = nil
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		logf("%v", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	signalled := false
	for {
		select {
		case err := <-done:
			var exit *exec.ExitError
			switch {
			case err == nil:
				return 0
			case errors.As(err, &exit):
				if st, ok := exit.Sys().(syscall.WaitStatus); ok && st.Signaled() {
					return 128 + int(st.Signal())
				}
				return exit.ExitCode()
			default:
				logf("%v", err)
				return 1
			}
		case sig := <-sigs:
			if signalled {
				// A second signal: stop waiting; the teardown kills it.
				logf("%v again: tearing down", sig)
				return 128 + int(sig.(syscall.Signal))
			}
			signalled = true
			// nsenter does not forward signals: pass it on to the command
			// it forked inside the sandbox. Teardown follows its exit.
			pid := cmd.Process.Pid
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
			for _, f := range strings.Fields(string(b)) {
				if child, err := strconv.Atoi(f); err == nil {
					syscall.Kill(child, sig.(syscall.Signal))
				}
			}
		}
	}
}
