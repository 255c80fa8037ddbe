package actuate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is a group's "actuator" in the --autoscale file.
type Config struct {
	// Type is "aws", "command" or "webhook".
	Type string `json:"type"`

	// aws: the Auto Scaling group (default: the group's name), its region
	// (default: the AWS chain's, e.g. AWS_REGION or the instance's), an
	// endpoint override (tests, VPC endpoints) and the attempts per call.
	ASGName     string `json:"asg_name,omitempty"`
	Region      string `json:"region,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"`
	MaxAttempts int    `json:"max_attempts,omitempty"`

	// command: argv, run without a shell.
	Command []string `json:"command,omitempty"`

	// webhook: where the decision is POSTed, and extra headers (such as
	// Authorization).
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`

	// Timeout bounds a command's run or a webhook call (default 60s).
	Timeout Duration `json:"timeout,omitempty"`
}

// Duration reads "30s" or "5m" in JSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"30s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

const defaultTimeout = 60 * time.Second

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return defaultTimeout
	}
	return time.Duration(c.Timeout)
}

// Validate says what is wrong, naming the field.
func (c Config) Validate() error {
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	switch c.Type {
	case "aws":
		if c.MaxAttempts < 0 {
			return errors.New("max_attempts must not be negative")
		}
		if c.Endpoint != "" {
			if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("endpoint %q: want an http(s) URL", c.Endpoint)
			}
		}
	case "command":
		if len(c.Command) == 0 || c.Command[0] == "" {
			return errors.New(`command: want the program and its arguments, e.g. ["/usr/local/bin/scale", "--group", "web"]`)
		}
	case "webhook":
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url %q: want an http(s) URL", c.URL)
		}
	case "":
		return errors.New(`type: missing: want "aws", "command" or "webhook"`)
	default:
		return fmt.Errorf(`type %q: want "aws", "command" or "webhook"`, c.Type)
	}
	return nil
}

// New makes the actuator a group's config describes.
func New(ctx context.Context, c Config, group string) (Actuator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Type {
	case "aws":
		return newAWS(ctx, c, group)
	case "command":
		return &commandActuator{argv: c.Command, timeout: c.timeout()}, nil
	default:
		return newWebhook(c), nil
	}
}
