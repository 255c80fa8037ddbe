package web

import (
	"encoding/json"
	"strings"
	"testing"
)

// badJob is a valid batch job with patch's keys set over it (a nil value
// removes the key), as JSON.
func badJob(t *testing.T, patch map[string]any) string {
	t.Helper()
	spec := map[string]any{"id": "bad", "type": "batch", "cmd": "true", "instances": 1, "cpus": 0.1, "mem": 32}
	for k, v := range patch {
		if v == nil {
			delete(spec, k)
			continue
		}
		spec[k] = v
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Hostile or mistaken input is refused with a 4xx that names the field at
// fault, before anything reaches the cluster: one case per class of bad
// input a user or an attacker sends.
func TestBadInputIsRefusedWithTheFieldNamed(t *testing.T) {
	type call struct{ method, path, body string }
	deep := badJob(t, map[string]any{"args": "DEEP"})
	deep = strings.Replace(deep, `"DEEP"`, strings.Repeat("[", 5000)+strings.Repeat("]", 5000), 1)
	cases := []struct {
		class  string
		req    func(t *testing.T) call
		status int
		field  string // ErrorBody.Field and named in the message ("" when the input has no field to name)
	}{
		{"unknown top-level field", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"comand": "x"})} }, 400, "comand"},
		{"unknown nested field", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"constraints": []any{map[string]any{"field": "zone", "operator": "UNIQUE", "valu": "a"}}})}
		}, 400, "constraints[0].valu"},
		{"missing id", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"id": nil})} }, 400, "id"},
		{"id with a path separator", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"id": "../etc"})} }, 400, "id"},
		{"id too long", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"id": strings.Repeat("a", 300)})}
		}, 400, "id"},
		{"unknown job type", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"type": "daemon"})} }, 400, "type"},
		{"string for a number", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"mem": "32"})} }, 400, "mem"},
		{"negative instances", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"instances": -1})} }, 400, "instances"},
		{"fractional instances", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"instances": 1.5})} }, 400, "instances"},
		{"huge instance count", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"instances": 1e12})} }, 400, "instances"},
		{"negative memory", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"mem": -5})} }, 400, "mem"},
		{"negative GPUs", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"gpus": -1})} }, 400, "gpus"},
		{"too many ports", func(t *testing.T) call { return call{"POST", "/v1/jobs", badJob(t, map[string]any{"ports": 100000})} }, 400, "ports"},
		{"unknown constraint operator", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"constraints": []any{map[string]any{"field": "zone", "operator": "NEAR", "value": "a"}}})}
		}, 400, "constraints[0].operator"},
		{"unknown health check protocol", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"type": "service", "ports": 1, "health_checks": []any{map[string]any{"protocol": "GOPHER"}}})}
		}, 400, "health_checks[0].protocol"},
		{"health check on a port the job lacks", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"type": "service", "ports": 1, "health_checks": []any{map[string]any{"protocol": "TCP", "port_index": 3}}})}
		}, 400, "health_checks[0].port_index"},
		{"roll-out capacity out of range", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"type": "service", "upgrade_strategy": map[string]any{"minimum_health_capacity": 2}})}
		}, 400, "upgrade_strategy.minimum_health_capacity"},
		{"unknown field in a health check", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"type": "service", "ports": 1, "health_checks": []any{map[string]any{"protocol": "TCP", "intervalSeconds": 5}}})}
		}, 400, "health_checks[0].intervalSeconds"},
		{"unknown time zone", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"type": "cron", "schedule": "0 * * * *", "time_zone": "Mars/Olympus"})}
		}, 400, "time_zone"},
		{"a job its own parent", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"parents": []any{"bad"}})}
		}, 400, "parents[0]"},
		{"negative kill grace", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"kill_grace_seconds": -1})}
		}, 400, "kill_grace_seconds"},
		{"environment variable with a bad name", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"env": map[string]any{"A=B": "x"}})}
		}, 400, "env.A=B"},
		{"unknown isolation profile", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"profile": "god-mode"})}
		}, 400, "profile"},
		{"NUL byte in the command", func(t *testing.T) call {
			return call{"POST", "/v1/jobs", badJob(t, map[string]any{"cmd": "echo \x00 hi"})}
		}, 400, "cmd"},
		{"JSON nested too deep", func(t *testing.T) call { return call{"POST", "/v1/jobs", deep} }, 400, ""},
		{"scale: unknown field", func(t *testing.T) call { return call{"POST", "/v1/jobs/web/scale", `{"instance":3}`} }, 400, "instance"},
		{"scale: missing count", func(t *testing.T) call { return call{"POST", "/v1/jobs/web/scale", `{}`} }, 400, "instances"},
		{"scale: negative count", func(t *testing.T) call { return call{"POST", "/v1/jobs/web/scale", `{"instances":-2}`} }, 400, "instances"},
		{"task list: unknown state", func(t *testing.T) call { return call{"GET", "/v1/tasks?state=TASK_SLEEPING", ""} }, 400, "state"},
		{"logs: unknown stream", func(t *testing.T) call { return call{"GET", "/v1/tasks/web.0.0001/logs?stream=stdin", ""} }, 400, "stream"},
		{"logs: negative offset", func(t *testing.T) call { return call{"GET", "/v1/tasks/web.0.0001/logs?offset=-1", ""} }, 400, "offset"},
		{"logs: tail not a number", func(t *testing.T) call { return call{"GET", "/v1/tasks/web.0.0001/logs?tail=lots", ""} }, 400, "tail"},
	}
	if len(cases) < 25 {
		t.Fatalf("only %d classes of bad input", len(cases))
	}
	for _, c := range cases {
		t.Run(c.class, func(t *testing.T) {
			e := newTestEnv(t)
			req := c.req(t)
			before := e.backend.submittedCount()
			eb := expectError(t, e.do(t, req.method, req.path, req.body), c.status, c.field, "")
			if c.field != "" && !strings.Contains(eb.Error, c.field) {
				t.Errorf("the message %q does not name the field %q", eb.Error, c.field)
			}
			if n := e.backend.submittedCount(); n != before {
				t.Errorf("refused input reached the backend (%d submits)", n-before)
			}
		})
	}
}
