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
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Its own process group, so a timeout stops what it started too; and
	// the wait does not hang on pipes a child it left running keeps open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s: killed after its timeout of %s%s", c, c.timeout, tail(stderr.Bytes()))
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

func tail(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	if len(b) > stderrTail {
		b = b[len(b)-stderrTail:]
	}
	return ": " + string(b)
}
