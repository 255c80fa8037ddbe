package health

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Protocols of a Check.
const (
	// ProtocolHTTP probes GET http://Host:Port/Path: healthy on a status of
	// 200 to 399 (a redirect is not followed: a 3xx is healthy, as in
	// Marathon).
	ProtocolHTTP = "HTTP"
	// ProtocolHTTPS is ProtocolHTTP over TLS, without verifying the task's
	// certificate (Marathon's HTTPS checks do not verify it either: a task's
	// certificate rarely names the agent's address).
	ProtocolHTTPS = "HTTPS"
	// ProtocolTCP is healthy when a TCP connection to Host:Port opens.
	ProtocolTCP = "TCP"
	// ProtocolCommand runs Command in the task's sandbox, through an Execer:
	// healthy when it exits with code 0 within the timeout.
	ProtocolCommand = "COMMAND"
)

// Defaults of a Check, Marathon's: the job API starts from DefaultCheck and
// overrides what a job gives.
const (
	DefaultGracePeriod            = 300 * time.Second
	DefaultInterval               = 60 * time.Second
	DefaultTimeout                = 20 * time.Second
	DefaultMaxConsecutiveFailures = 3
	DefaultPath                   = "/"
)

// Check is one health check of a task, as a service job declares it
// (Marathon's fields). Its zero value is not valid: start from DefaultCheck.
type Check struct {
	// Protocol is ProtocolHTTP, ProtocolHTTPS, ProtocolTCP or ProtocolCommand.
	Protocol string
	// Path is the HTTP(S) request path, with an optional query; "" means "/".
	Path string
	// PortIndex picks the port to probe among the task's ports (PORT0 is
	// index 0), for HTTP(S) and TCP. Port, when not 0, is used instead.
	PortIndex int
	Port      int
	// Command is a COMMAND check's shell command, which the Execer runs
	// with the task's environment (its $PORT0... among it).
	Command string
	// GracePeriod: a failure is ignored while the check has never passed
	// and the task has been running less than GracePeriod (0: no grace).
	GracePeriod time.Duration
	// Interval is the time from the start of one probe to the start of the
	// next. A probe still running then delays the next one; probes of one
	// task never overlap.
	Interval time.Duration
	// Timeout bounds one probe: a probe with no answer within it failed.
	Timeout time.Duration
	// MaxConsecutiveFailures counted failures in a row make the task
	// unhealthy (to be replaced); 0 means never: failures are only reported.
	MaxConsecutiveFailures int
}

// DefaultCheck is an HTTP check of PORT0's "/" with Marathon's defaults:
// grace period 300s, interval 60s, timeout 20s, 3 consecutive failures.
func DefaultCheck() Check {
	return Check{
		Protocol:               ProtocolHTTP,
		Path:                   DefaultPath,
		GracePeriod:            DefaultGracePeriod,
		Interval:               DefaultInterval,
		Timeout:                DefaultTimeout,
		MaxConsecutiveFailures: DefaultMaxConsecutiveFailures,
	}
}

// Validate says what is wrong with c, field by field, or returns nil. It
// does not know the task's ports: PortFor checks the port index.
func (c Check) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
		if c.Path != "" {
			if !strings.HasPrefix(c.Path, "/") {
				bad("path %q must start with /", c.Path)
			} else if _, err := url.ParseRequestURI(c.Path); err != nil {
				bad("path %q is not a valid request path: %v", c.Path, err)
			}
		}
	case ProtocolTCP:
	case ProtocolCommand:
		if strings.TrimSpace(c.Command) == "" {
			bad("a COMMAND check needs a command")
		}
	case "":
		bad("protocol is missing: give HTTP, HTTPS, TCP or COMMAND")
	default:
		bad("protocol %q is unknown: give HTTP, HTTPS, TCP or COMMAND", c.Protocol)
	}
	if c.Protocol != ProtocolCommand {
		if c.PortIndex < 0 {
			bad("port index %d is negative", c.PortIndex)
		}
		if c.Port < 0 || c.Port > 65535 {
			bad("port %d is not a TCP port (1-65535, or 0 to use the port index)", c.Port)
		}
	}
	if c.Interval <= 0 {
		bad("interval must be positive (got %v; the default is %v)", c.Interval, DefaultInterval)
	}
	if c.Timeout <= 0 {
		bad("timeout must be positive (got %v; the default is %v)", c.Timeout, DefaultTimeout)
	}
	if c.GracePeriod < 0 {
		bad("grace period must not be negative (got %v; 0 means no grace)", c.GracePeriod)
	}
	if c.MaxConsecutiveFailures < 0 {
		bad("max consecutive failures must not be negative (got %d; 0 means never unhealthy)", c.MaxConsecutiveFailures)
	}
	return errors.Join(errs...)
}

// PortFor is the port c probes on t: c.Port when set, else t's port at
// c.PortIndex. It fails when the task has no port at that index. A COMMAND
// check probes no port (0, nil).
func (c Check) PortFor(t Target) (int, error) {
	if c.Protocol == ProtocolCommand {
		return 0, nil
	}
	if c.Port != 0 {
		return c.Port, nil
	}
	if c.PortIndex < 0 || c.PortIndex >= len(t.Ports) {
		return 0, fmt.Errorf("port index %d, but task %s has %d ports; give the job more ports or a lower port index", c.PortIndex, t.TaskID, len(t.Ports))
	}
	p := t.Ports[c.PortIndex]
	if p <= 0 || p > 65535 {
		return 0, fmt.Errorf("port index %d of task %s is %d, not a TCP port", c.PortIndex, t.TaskID, p)
	}
	return p, nil
}

// path is the request path, "/" when none is given.
func (c Check) path() string {
	if c.Path == "" {
		return DefaultPath
	}
	return c.Path
}

// describe names the check in messages: `HTTP GET :31000/health`.
func (c Check) describe(port int) string {
	switch c.Protocol {
	case ProtocolHTTP, ProtocolHTTPS:
		return fmt.Sprintf("%s GET :%d%s", c.Protocol, port, c.path())
	case ProtocolTCP:
		return fmt.Sprintf("TCP :%d", port)
	case ProtocolCommand:
		return fmt.Sprintf("COMMAND %q", truncate(c.Command, 60))
	}
	return c.Protocol
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
