package actuate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// commandActuator runs an operator's program with the decision as JSON on
// stdin and in its environment.
type commandActuator struct {
	argv    []string
	timeout time.Duration
}

func (c *commandActuator) String() string { return "command " + strings.Join(c.argv, " ") }

// stderrTail is how much of a failed command's stderr its error carries.
const stderrTail = 2048

func (c *commandActuator) Act(ctx context.Context, d Decision) error {
	body, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode the decision: %w", err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	var names []string
	for _, h := range d.Hosts {
		names = append(names, h.Name)
	}
	cmd.Env = append(os.Environ(), "CLUSTERD_AUTOSCALE_GROUP="+d.Group, "CLUSTERD_AUTOSCALE_KIND="+d.Kind,
		"CLUSTERD_AUTOSCALE_COUNT="+strconv.Itoa(d.Count), "CLUSTERD_AUTOSCALE_HOSTS="+strings.Join(names, " "))
	cmd.Stdin = bytes.NewReader(body)
	// Only the end of stderr is kept: a chatty program must not grow the
	// leader's memory, and its last lines usually say why it failed.
	stderr := &tailBuffer{max: stderrTail}
	cmd.Stderr = stderr
	// Its own process group, so a timeout stops what it started too; and
	// the wait does not hang on pipes a child it left running keeps open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() != nil && err != nil {
		if parent.Err() != nil {
			// The caller gave up (shutdown, lost leadership), not the timeout.
			return fmt.Errorf("%s: stopped: %w%s", c, parent.Err(), tail(stderr.Bytes()))
		}
		return fmt.Errorf("%s: killed after its timeout of %s (raise the actuator's timeout if it needs longer)%s", c, c.timeout, tail(stderr.Bytes()))
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s: exited with status %d%s", c, exit.ExitCode(), tail(stderr.Bytes()))
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", c, err)
	}
	return nil
}

// tail is what an error shows of a command's stderr.
func tail(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	return ": " + string(b)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) Bytes() []byte { return t.buf }
