package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
)

// MaxJobSpecBytes bounds a submitted job document; Raft log entries stay small.
const MaxJobSpecBytes = 64 << 10

// Limits on a single instance, so a typo (mem in bytes instead of MiB) is
// rejected instead of becoming a job that can never be placed.
const (
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

// JobSpec is what a user submits with `clusterd run FILE` or POST /v1/jobs.
type JobSpec struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"` // "service" or "batch"
	Cmd       string            `json:"cmd"`  // run with /bin/sh -c
	Instances int               `json:"instances"`
	CPUs      float64           `json:"cpus"`
	Mem       float64           `json:"mem"` // MiB
	Disk      float64           `json:"disk,omitempty"`
	GPUs      int               `json:"gpus,omitempty"`
	Ports     int               `json:"ports,omitempty"` // host ports to allocate; exported as PORT0, PORT1, ...
	Env       map[string]string `json:"env,omitempty"`
	// Retries is how often a failed batch instance is run again (default 2).
	Retries *int `json:"retries,omitempty"`
	// KillGraceSeconds is the time between SIGTERM and SIGKILL (default 5).
	KillGraceSeconds *float64 `json:"kill_grace_seconds,omitempty"`
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
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
		return invalid(name, "unknown field (known: id, type, cmd, instances, cpus, mem, disk, gpus, ports, env, retries, kill_grace_seconds, role, profile, user)")
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
	case JobService, JobBatch:
	case "":
		return invalid("type", `is required: "service" or "batch"`)
	default:
		return invalid("type", `%q is not a job type: use "service" or "batch"`, s.Type)
	}
	if strings.TrimSpace(s.Cmd) == "" {
		return invalid("cmd", "is required: the shell command to run")
	}
	if len(s.Cmd) > maxCmdBytes {
		return invalid("cmd", "is longer than %d bytes", maxCmdBytes)
	}
	if strings.IndexByte(s.Cmd, 0) >= 0 {
		return invalid("cmd", "contains a NUL byte")
	}
	if s.Instances <= 0 || s.Instances > maxInstances {
		return invalid("instances", "must be between 1 and %d, got %d", maxInstances, s.Instances)
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
		if s.Type != JobBatch {
			return invalid("retries", "applies to batch jobs only; services restart failed tasks with backoff")
		}
		if *s.Retries < 0 || *s.Retries > maxRetries {
			return invalid("retries", "must be between 0 and %d, got %d", maxRetries, *s.Retries)
		}
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

// DefaultJobRole is the role of jobs that name none: the built-in
// framework's own.
const DefaultJobRole = "jobs"

// ApplyDefaults fills in optional fields.
func (s *JobSpec) ApplyDefaults() {
	if s.Type == JobBatch && s.Retries == nil {
		r := defaultRetries
		s.Retries = &r
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
