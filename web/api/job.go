package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxJobSpecBytes bounds a submitted job document; Raft log entries stay small.
const MaxJobSpecBytes = 64 << 10

// Limits on a single instance, so a typo (mem in bytes instead of MiB) is
// rejected instead of becoming a job that can never be placed.
const (
	maxArgs          = 256
	maxConstraints   = 32
	maxHealthChecks  = 8
	maxParents       = 32
	maxPriority      = 1000
	maxRetentionSecs = 7 * 24 * 3600
	maxInstances     = 10000
	maxCPUs          = 1024
	maxMemMiB        = 16 << 20 // 16 TiB
	maxPorts         = 64
	maxEnvVars       = 256
	maxCmdBytes      = 16 << 10
	defaultRetries   = 2
	maxRetries       = 100
	defaultKillGrace = 5.0
	maxKillGraceSecs = 3600
)

var jobIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$`)
var userPattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Job types.
const (
	JobService = "service" // keep instances running (Marathon)
	JobBatch   = "batch"   // run instances to completion, once per version or after its parents
	JobCron    = "cron"    // run instances to completion on a schedule (Chronos)
)

// JobSpec is what a user submits with `clusterd run FILE` or POST /v1/jobs.
// Field names follow this API's snake_case; the comments name the
// Marathon and Chronos fields they stand for.
type JobSpec struct {
	ID   string `json:"id"`
	Type string `json:"type"` // "service", "batch" or "cron"
	// Cmd is run with /bin/sh -c; Args, instead, is the command as argv,
	// exec'd without a shell.
	Cmd       string            `json:"cmd,omitempty"`
	Args      []string          `json:"args,omitempty"`
	Instances int               `json:"instances"`
	CPUs      float64           `json:"cpus"`
	Mem       float64           `json:"mem"` // MiB
	Disk      float64           `json:"disk,omitempty"`
	GPUs      int               `json:"gpus,omitempty"`
	Ports     int               `json:"ports,omitempty"` // host ports to allocate; exported as PORT0, PORT1, ... and PORTS
	Env       map[string]string `json:"env,omitempty"`
	// Constraints limit where the tasks go: Marathon's
	// ["zone", "GROUP_BY", "3"] form, or {"field", "operator", "value",
	// "soft"} objects.
	Constraints []Constraint `json:"constraints,omitempty"`
	// HealthChecks of a service's tasks; an unhealthy task is replaced.
	HealthChecks []HealthCheck `json:"health_checks,omitempty"`
	// Priority orders tasks waiting to be placed: higher first (default 0).
	Priority int `json:"priority,omitempty"`
	// Lifetime is a placement hint, "long" (runs until stopped) or
	// "short" (ends by itself): tasks with a hint prefer nodes that run
	// only tasks of their own kind, so nodes of short tasks empty together
	// and the autoscaler can remove them. Empty: no preference.
	Lifetime string `json:"lifetime,omitempty"`
	// Restart backoff of a failing service instance (Marathon's
	// backoffSeconds 1, backoffFactor 1.15, maxLaunchDelaySeconds 300).
	BackoffSeconds        *float64 `json:"backoff_seconds,omitempty"`
	BackoffFactor         *float64 `json:"backoff_factor,omitempty"`
	MaxLaunchDelaySeconds *float64 `json:"max_launch_delay_seconds,omitempty"`
	// UpgradeStrategy of a service's rolling updates.
	UpgradeStrategy *UpgradeStrategy `json:"upgrade_strategy,omitempty"`
	// Retries is how often a failed batch or cron instance is run again
	// (default 2).
	Retries *int `json:"retries,omitempty"`
	// MaxCompletionSeconds kills a batch or cron task running longer; it
	// counts as a failure (default: no limit).
	MaxCompletionSeconds float64 `json:"max_completion_seconds,omitempty"`
	// RetentionSeconds is how long ended tasks' records, exit codes and
	// output are kept (default 3600, at most 7 days).
	RetentionSeconds *float64 `json:"retention_seconds,omitempty"`
	// KillGraceSeconds is the time between SIGTERM and SIGKILL (default 5).
	KillGraceSeconds *float64 `json:"kill_grace_seconds,omitempty"`
	// Schedule of a cron job: an ISO 8601 repeating interval
	// ("R/2026-01-01T02:00:00Z/P1D") or a 5-field cron line, in TimeZone
	// (default UTC). A run missed by less than EpsilonSeconds (default 60)
	// still starts; ConcurrencyPolicy says what a run due while the
	// previous one runs does: "forbid" (the default: it is skipped),
	// "allow" or "replace".
	Schedule          string   `json:"schedule,omitempty"`
	TimeZone          string   `json:"time_zone,omitempty"`
	EpsilonSeconds    *float64 `json:"epsilon_seconds,omitempty"`
	ConcurrencyPolicy string   `json:"concurrency_policy,omitempty"`
	// Parents make a batch job dependent: it runs each time the latest
	// runs of all its parents (batch or cron jobs) succeeded.
	Parents []string `json:"parents,omitempty"`
	// Role is the allocation role the job's tasks are accounted to (default
	// "jobs", the built-in framework's own role; "*" is the default role of
	// Mesos frameworks that name none).
	Role string `json:"role,omitempty"`
	// Profile is the sandbox: "hardened" (the default: a dynamic
	// unprivileged user, read-only system, private /tmp and devices...) or
	// "relaxed" (limits only), which a job must ask for explicitly.
	Profile string `json:"profile,omitempty"`
	// User runs the tasks as this user instead of a dynamic one; the agent
	// must allow it (--allow-user).
	User string `json:"user,omitempty"`
}

// Constraint is one placement constraint (Marathon's operators UNIQUE,
// CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS on "hostname" or an
// attribute). A soft constraint only prefers.
type Constraint struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    string `json:"value,omitempty"`
	Soft     bool   `json:"soft,omitempty"`
}

// UnmarshalJSON takes Marathon's ["field", "OPERATOR", "value"] form (a
// fourth element "soft" makes it soft) as well as the object form.
func (c *Constraint) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		var parts []string
		if err := json.Unmarshal(t, &parts); err != nil {
			return fmt.Errorf("a constraint array holds strings: [\"field\", \"OPERATOR\", \"value\"]")
		}
		if len(parts) < 2 || len(parts) > 4 || (len(parts) == 4 && parts[3] != "soft") {
			return fmt.Errorf("constraint %q: want [\"field\", \"OPERATOR\"], [\"field\", \"OPERATOR\", \"value\"] or a fourth element \"soft\"", parts)
		}
		*c = Constraint{Field: parts[0], Operator: parts[1]}
		if len(parts) >= 3 {
			c.Value = parts[2]
		}
		c.Soft = len(parts) == 4
		return nil
	}
	type plain Constraint
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("constraint: %v (known fields: field, operator, value, soft)", err)
	}
	*c = Constraint(p)
	return nil
}

// HealthCheck is how a service task's health is checked (Marathon's
// fields; defaults: grace 300 s, interval 60 s, timeout 20 s, 3
// consecutive failures).
type HealthCheck struct {
	Protocol               string   `json:"protocol"` // "HTTP", "HTTPS" (certificate not verified), "TCP" or "COMMAND"
	Path                   string   `json:"path,omitempty"`
	PortIndex              int      `json:"port_index,omitempty"`
	Command                string   `json:"command,omitempty"`
	GracePeriodSeconds     *float64 `json:"grace_period_seconds,omitempty"`
	IntervalSeconds        *float64 `json:"interval_seconds,omitempty"`
	TimeoutSeconds         *float64 `json:"timeout_seconds,omitempty"`
	MaxConsecutiveFailures *int     `json:"max_consecutive_failures,omitempty"`
}

// UpgradeStrategy is how a service rolls to a new version (Marathon's
// minimumHealthCapacity and maximumOverCapacity, both 1 by default: all
// new instances start first, and old ones stop as new ones turn healthy).
type UpgradeStrategy struct {
	MinimumHealthCapacity *float64 `json:"minimum_health_capacity,omitempty"`
	MaximumOverCapacity   *float64 `json:"maximum_over_capacity,omitempty"`
}

// ValidationError names the field of a request that is wrong.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// DecodeJobSpec reads one JSON job document strictly: unknown fields,
// trailing data and oversized bodies are errors, so a misspelt field never
// silently falls back to a default. The result is validated and defaulted.
func DecodeJobSpec(r io.Reader) (JobSpec, error) {
	var spec JobSpec
	body, err := io.ReadAll(io.LimitReader(r, MaxJobSpecBytes+1))
	if err != nil {
		return spec, fmt.Errorf("read job: %w", err)
	}
	if len(body) > MaxJobSpecBytes {
		return spec, invalid("", "job document is larger than %d KiB", MaxJobSpecBytes>>10)
	}
	if err := checkDepth(body, MaxJSONDepth); err != nil {
		return spec, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		if strings.Contains(err.Error(), "unknown field ") {
			var generic any
			if json.Unmarshal(body, &generic) == nil {
				if path, known := unknownField(generic, reflect.TypeFor[JobSpec](), ""); path != "" {
					return spec, invalid(path, "unknown field (known here: %s)", strings.Join(known, ", "))
				}
			}
		}
		return spec, jsonError(err)
	}
	if dec.More() {
		return spec, invalid("", "unexpected data after the job object; submit one job per request")
	}
	if err := spec.Validate(); err != nil {
		return spec, err
	}
	spec.ApplyDefaults()
	return spec, nil
}

// Scale is the body of POST /v1/jobs/{id}/scale: a service's new instance
// count (0 suspends it). Scaling keeps the job's version: no rolling update.
type Scale struct {
	Instances *int `json:"instances"`
}

// DecodeScale reads and checks a Scale.
func DecodeScale(r io.Reader) (int, error) {
	var s Scale
	dec := json.NewDecoder(io.LimitReader(r, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return 0, invalid(strings.Trim(name, `"`), "unknown field (known: instances)")
		}
		return 0, jsonError(err)
	}
	switch {
	case s.Instances == nil:
		return 0, invalid("instances", "is required: the service's new instance count")
	case *s.Instances < 0 || *s.Instances > maxInstances:
		return 0, invalid("instances", "must be between 0 and %d, got %d", maxInstances, *s.Instances)
	}
	return *s.Instances, nil
}

// jsonError turns encoding/json's errors into ones that name the field.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return invalid(typeErr.Field, "has the wrong type: got a JSON %s, want %s", typeErr.Value, typeErr.Type.String())
	case errors.As(err, &syntaxErr):
		return invalid("", "malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF):
		return invalid("", "empty body: expected a JSON job object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(name, "unknown field (known: id, type, cmd, args, instances, cpus, mem, disk, gpus, ports, env, constraints, health_checks, priority, backoff_seconds, backoff_factor, max_launch_delay_seconds, upgrade_strategy, retries, max_completion_seconds, retention_seconds, kill_grace_seconds, schedule, time_zone, epsilon_seconds, concurrency_policy, parents, role, profile, user)")
	}
	return invalid("", "malformed JSON: %v", err)
}

// Validate checks a spec without changing it. Errors are *ValidationError.
func (s *JobSpec) Validate() error {
	if s.ID == "" {
		return invalid("id", "is required")
	}
	if !jobIDPattern.MatchString(s.ID) {
		return invalid("id", "%q must be 1-64 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit", s.ID)
	}
	switch s.Type {
	case JobService, JobBatch, JobCron:
	case "":
		return invalid("type", `is required: "service", "batch" or "cron"`)
	default:
		return invalid("type", `%q is not a job type: use "service", "batch" or "cron"`, s.Type)
	}
	if err := s.validateCommand(); err != nil {
		return err
	}
	minInstances := 1
	if s.Type == JobService {
		minInstances = 0 // a suspended service
	}
	if s.Instances < minInstances || s.Instances > maxInstances {
		return invalid("instances", "must be between %d and %d, got %d", minInstances, maxInstances, s.Instances)
	}
	if bad(s.CPUs) || s.CPUs <= 0 || s.CPUs > maxCPUs {
		return invalid("cpus", "must be more than 0 and at most %d, got %v", maxCPUs, s.CPUs)
	}
	if bad(s.Mem) || s.Mem <= 0 || s.Mem > maxMemMiB {
		return invalid("mem", "must be more than 0 MiB and at most %d MiB, got %v", maxMemMiB, s.Mem)
	}
	if bad(s.Disk) || s.Disk < 0 {
		return invalid("disk", "must not be negative, got %v", s.Disk)
	}
	if s.GPUs < 0 {
		return invalid("gpus", "must not be negative, got %d", s.GPUs)
	}
	if s.Ports < 0 || s.Ports > maxPorts {
		return invalid("ports", "must be between 0 and %d, got %d", maxPorts, s.Ports)
	}
	if len(s.Env) > maxEnvVars {
		return invalid("env", "has more than %d variables", maxEnvVars)
	}
	for k, v := range s.Env {
		if !envNamePattern.MatchString(k) {
			return invalid("env."+k, "is not a valid environment variable name")
		}
		if strings.IndexByte(v, 0) >= 0 {
			return invalid("env."+k, "contains a NUL byte")
		}
	}
	if s.Retries != nil {
		if s.Type == JobService {
			return invalid("retries", "applies to batch and cron jobs; services restart failed tasks with backoff")
		}
		if *s.Retries < 0 || *s.Retries > maxRetries {
			return invalid("retries", "must be between 0 and %d, got %d", maxRetries, *s.Retries)
		}
	}
	if err := s.validateService(); err != nil {
		return err
	}
	if err := s.validateRuns(); err != nil {
		return err
	}
	if s.Lifetime != "" && s.Lifetime != "long" && s.Lifetime != "short" {
		return invalid("lifetime", "must be long, short or empty, got %q", s.Lifetime)
	}
	if s.Priority < -maxPriority || s.Priority > maxPriority {
		return invalid("priority", "must be between %d and %d, got %d", -maxPriority, maxPriority, s.Priority)
	}
	if len(s.Constraints) > maxConstraints {
		return invalid("constraints", "has more than %d constraints", maxConstraints)
	}
	for i, c := range s.Constraints {
		if err := c.validate(); err != nil {
			return invalid(fmt.Sprintf("constraints[%d].%s", i, err.Field), "%s", err.Message)
		}
	}
	if r := s.RetentionSeconds; r != nil && (bad(*r) || *r < 0 || *r > maxRetentionSecs) {
		return invalid("retention_seconds", "must be between 0 and %d (7 days), got %v", maxRetentionSecs, *r)
	}
	if g := s.KillGraceSeconds; g != nil && (bad(*g) || *g < 0 || *g > maxKillGraceSecs) {
		return invalid("kill_grace_seconds", "must be between 0 and %d, got %v", maxKillGraceSecs, *g)
	}
	switch s.Profile {
	case "", "hardened", "relaxed":
	default:
		return invalid("profile", `%q is not a profile: use "hardened" (the default) or "relaxed"`, s.Profile)
	}
	if s.User != "" && !userPattern.MatchString(s.User) {
		return invalid("user", "%q is not a valid user name", s.User)
	}
	if s.Role != "" && s.Role != "*" && !jobIDPattern.MatchString(s.Role) {
		return invalid("role", "%q is not a valid role name", s.Role)
	}
	return nil
}

func (s *JobSpec) validateCommand() error {
	switch {
	case s.Cmd != "" && len(s.Args) > 0:
		return invalid("args", "give either cmd (run by a shell) or args (exec'd), not both")
	case len(s.Args) > 0:
		if len(s.Args) > maxArgs {
			return invalid("args", "has more than %d arguments", maxArgs)
		}
		total := 0
		for i, a := range s.Args {
			total += len(a)
			if strings.IndexByte(a, 0) >= 0 {
				return invalid(fmt.Sprintf("args[%d]", i), "contains a NUL byte")
			}
		}
		if s.Args[0] == "" {
			return invalid("args[0]", "is the program to run: it must not be empty")
		}
		if total > maxCmdBytes {
			return invalid("args", "are longer than %d bytes together", maxCmdBytes)
		}
		return nil
	case strings.TrimSpace(s.Cmd) == "":
		return invalid("cmd", "is required: the shell command to run (or args, the command as argv)")
	case len(s.Cmd) > maxCmdBytes:
		return invalid("cmd", "is longer than %d bytes", maxCmdBytes)
	case strings.IndexByte(s.Cmd, 0) >= 0:
		return invalid("cmd", "contains a NUL byte")
	}
	return nil
}

// validateService checks the fields only services have.
func (s *JobSpec) validateService() error {
	serviceOnly := map[string]bool{
		"health_checks":            len(s.HealthChecks) > 0,
		"backoff_seconds":          s.BackoffSeconds != nil,
		"backoff_factor":           s.BackoffFactor != nil,
		"max_launch_delay_seconds": s.MaxLaunchDelaySeconds != nil,
		"upgrade_strategy":         s.UpgradeStrategy != nil,
	}
	if s.Type != JobService {
		for _, f := range []string{"health_checks", "backoff_seconds", "backoff_factor", "max_launch_delay_seconds", "upgrade_strategy"} {
			if serviceOnly[f] {
				return invalid(f, "applies to services only")
			}
		}
		return nil
	}
	if len(s.HealthChecks) > maxHealthChecks {
		return invalid("health_checks", "has more than %d checks", maxHealthChecks)
	}
	for i, hc := range s.HealthChecks {
		if err := hc.validate(s.Ports); err != nil {
			return invalid(fmt.Sprintf("health_checks[%d].%s", i, err.Field), "%s", err.Message)
		}
	}
	b, f, m := orDefault(s.BackoffSeconds, 1), orDefault(s.BackoffFactor, 1.15), orDefault(s.MaxLaunchDelaySeconds, 300)
	switch {
	case bad(b) || b <= 0 || b > 3600:
		return invalid("backoff_seconds", "must be more than 0 and at most 3600, got %v", b)
	case bad(f) || f < 1 || f > 10:
		return invalid("backoff_factor", "must be between 1 and 10, got %v", f)
	case bad(m) || m < b || m > 24*3600:
		return invalid("max_launch_delay_seconds", "must be at least backoff_seconds (%v) and at most 86400, got %v", b, m)
	}
	if u := s.UpgradeStrategy; u != nil {
		minH, maxO := orDefault(u.MinimumHealthCapacity, 1), orDefault(u.MaximumOverCapacity, 1)
		switch {
		case bad(minH) || minH < 0 || minH > 1:
			return invalid("upgrade_strategy.minimum_health_capacity", "must be between 0 and 1, got %v", minH)
		case bad(maxO) || maxO < 0 || maxO > 1:
			return invalid("upgrade_strategy.maximum_over_capacity", "must be between 0 and 1, got %v", maxO)
		case minH == 1 && maxO == 0:
			return invalid("upgrade_strategy", "minimum_health_capacity 1 with maximum_over_capacity 0 can never roll: no old task may stop and no new one may start; allow some over capacity")
		}
	}
	return nil
}

// validateRuns checks the fields of batch and cron jobs.
func (s *JobSpec) validateRuns() error {
	if s.Type == JobService {
		for f, set := range map[string]bool{"max_completion_seconds": s.MaxCompletionSeconds != 0, "schedule": s.Schedule != "",
			"parents": len(s.Parents) > 0, "concurrency_policy": s.ConcurrencyPolicy != "", "epsilon_seconds": s.EpsilonSeconds != nil} {
			if set {
				return invalid(f, "applies to batch and cron jobs, not services")
			}
		}
		return nil
	}
	if m := s.MaxCompletionSeconds; bad(m) || m < 0 || m > 30*24*3600 {
		return invalid("max_completion_seconds", "must be between 0 (no limit) and 2592000, got %v", m)
	}
	if s.Type == JobCron {
		if strings.TrimSpace(s.Schedule) == "" {
			return invalid("schedule", `is required for a cron job: e.g. "R/2026-01-01T02:00:00Z/P1D" or "0 2 * * *"`)
		}
		if len(s.Parents) > 0 {
			return invalid("parents", "a cron job runs on its schedule; make a batch job with parents to run after other jobs")
		}
	} else {
		for f, set := range map[string]bool{"schedule": s.Schedule != "", "time_zone": s.TimeZone != "", "epsilon_seconds": s.EpsilonSeconds != nil, "concurrency_policy": s.ConcurrencyPolicy != ""} {
			if set {
				return invalid(f, `applies to cron jobs: set "type": "cron"`)
			}
		}
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil {
			return invalid("time_zone", "%q is not an IANA time zone (e.g. Europe/Berlin, America/New_York)", s.TimeZone)
		}
	}
	if e := s.EpsilonSeconds; e != nil && (bad(*e) || *e < 0 || *e > 24*3600) {
		return invalid("epsilon_seconds", "must be between 0 and 86400, got %v", *e)
	}
	switch s.ConcurrencyPolicy {
	case "", "allow", "forbid", "replace":
	default:
		return invalid("concurrency_policy", `%q: use "forbid" (the default), "allow" or "replace"`, s.ConcurrencyPolicy)
	}
	if len(s.Parents) > maxParents {
		return invalid("parents", "has more than %d parents", maxParents)
	}
	seen := map[string]bool{}
	for i, p := range s.Parents {
		switch {
		case !jobIDPattern.MatchString(p):
			return invalid(fmt.Sprintf("parents[%d]", i), "%q is not a job id", p)
		case p == s.ID:
			return invalid(fmt.Sprintf("parents[%d]", i), "a job cannot be its own parent")
		case seen[p]:
			return invalid(fmt.Sprintf("parents[%d]", i), "%q is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// Constraint operators.
var constraintOperators = map[string]bool{"UNIQUE": true, "CLUSTER": true, "GROUP_BY": true, "LIKE": true, "UNLIKE": true, "MAX_PER": true, "IS": true}

// validate checks one constraint; the error's Field is the constraint's
// own (field, operator or value), which Validate puts under constraints[i].
func (c Constraint) validate() *ValidationError {
	bad := func(field, format string, args ...any) *ValidationError {
		return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	op := strings.ToUpper(c.Operator)
	switch {
	case c.Field == "":
		return bad("field", `is required: "hostname" or an attribute name`)
	case !constraintOperators[op]:
		return bad("operator", "%q is not an operator: use UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS", c.Operator)
	case (op == "LIKE" || op == "UNLIKE" || op == "IS" || op == "MAX_PER") && c.Value == "":
		return bad("value", "is required with %s", op)
	case op == "UNIQUE" && c.Value != "":
		return bad("value", "UNIQUE takes no value")
	}
	switch op {
	case "LIKE", "UNLIKE":
		if _, err := regexp.Compile("^(?:" + c.Value + ")$"); err != nil {
			return bad("value", "%q is not a regular expression for %s: %v", c.Value, op, err)
		}
	case "MAX_PER", "GROUP_BY":
		if c.Value == "" {
			break
		}
		if n, err := strconv.Atoi(c.Value); err != nil || n < 1 {
			return bad("value", "%q must be a whole number of at least 1 for %s", c.Value, op)
		}
	}
	return nil
}

func (hc HealthCheck) validate(ports int) *ValidationError {
	bad := func(field, format string, args ...any) *ValidationError {
		return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch strings.ToUpper(hc.Protocol) {
	case "HTTP", "HTTPS", "TCP":
		if hc.PortIndex < 0 || hc.PortIndex >= ports {
			return bad("port_index", "%d is not one of the job's %d ports (set \"ports\" and port_index 0..ports-1)", hc.PortIndex, ports)
		}
		if hc.Command != "" {
			return bad("command", "applies to COMMAND checks only")
		}
	case "COMMAND":
		if strings.TrimSpace(hc.Command) == "" {
			return bad("command", "is required for a COMMAND check")
		}
	default:
		return bad("protocol", `%q: use "HTTP", "HTTPS", "TCP" or "COMMAND"`, hc.Protocol)
	}
	if hc.Path != "" && !strings.EqualFold(hc.Protocol, "HTTP") && !strings.EqualFold(hc.Protocol, "HTTPS") {
		return bad("path", "applies to HTTP and HTTPS checks only")
	}
	if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
		return bad("path", "%q must start with /", hc.Path)
	}
	for name, v := range map[string]*float64{"grace_period_seconds": hc.GracePeriodSeconds, "interval_seconds": hc.IntervalSeconds, "timeout_seconds": hc.TimeoutSeconds} {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0 || *v > 24*3600) {
			return bad(name, "must be between 0 and 86400, got %v", *v)
		}
	}
	if v := hc.IntervalSeconds; v != nil && *v == 0 {
		return bad("interval_seconds", "must be more than 0")
	}
	if v := hc.TimeoutSeconds; v != nil && *v == 0 {
		return bad("timeout_seconds", "must be more than 0")
	}
	if v := hc.MaxConsecutiveFailures; v != nil && (*v < 0 || *v > 1000) {
		return bad("max_consecutive_failures", "must be between 0 (never unhealthy) and 1000, got %d", *v)
	}
	return nil
}

func orDefault(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

func ptrTo[T any](v T) *T { return &v }

// DefaultJobRole is the role of jobs that name none: the built-in
// framework's own.
const DefaultJobRole = "jobs"

// ApplyDefaults fills in optional fields, so the stored job says how it
// behaves.
func (s *JobSpec) ApplyDefaults() {
	if s.Type != JobService && s.Retries == nil {
		r := defaultRetries
		s.Retries = &r
	}
	if s.RetentionSeconds == nil {
		s.RetentionSeconds = ptrTo(3600.0)
	}
	switch s.Type {
	case JobService:
		if s.BackoffSeconds == nil {
			s.BackoffSeconds = ptrTo(1.0)
		}
		if s.BackoffFactor == nil {
			s.BackoffFactor = ptrTo(1.15)
		}
		if s.MaxLaunchDelaySeconds == nil {
			s.MaxLaunchDelaySeconds = ptrTo(300.0)
		}
		if s.UpgradeStrategy == nil {
			s.UpgradeStrategy = &UpgradeStrategy{}
		}
		if s.UpgradeStrategy.MinimumHealthCapacity == nil {
			s.UpgradeStrategy.MinimumHealthCapacity = ptrTo(1.0)
		}
		if s.UpgradeStrategy.MaximumOverCapacity == nil {
			s.UpgradeStrategy.MaximumOverCapacity = ptrTo(1.0)
		}
		for i := range s.HealthChecks {
			hc := &s.HealthChecks[i]
			hc.Protocol = strings.ToUpper(hc.Protocol)
			if (hc.Protocol == "HTTP" || hc.Protocol == "HTTPS") && hc.Path == "" {
				hc.Path = "/"
			}
			if hc.GracePeriodSeconds == nil {
				hc.GracePeriodSeconds = ptrTo(300.0)
			}
			if hc.IntervalSeconds == nil {
				hc.IntervalSeconds = ptrTo(60.0)
			}
			if hc.TimeoutSeconds == nil {
				hc.TimeoutSeconds = ptrTo(20.0)
			}
			if hc.MaxConsecutiveFailures == nil {
				hc.MaxConsecutiveFailures = ptrTo(3)
			}
		}
	case JobCron:
		if s.EpsilonSeconds == nil {
			s.EpsilonSeconds = ptrTo(60.0)
		}
		if s.ConcurrencyPolicy == "" {
			s.ConcurrencyPolicy = "forbid"
		}
		if s.TimeZone == "" {
			s.TimeZone = "UTC"
		}
	}
	for i := range s.Constraints {
		s.Constraints[i].Operator = strings.ToUpper(s.Constraints[i].Operator)
	}
	if s.KillGraceSeconds == nil {
		g := defaultKillGrace
		s.KillGraceSeconds = &g
	}
	if s.Role == "" {
		s.Role = DefaultJobRole
	}
	if s.Profile == "" {
		s.Profile = "hardened"
	}
}

func bad(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
