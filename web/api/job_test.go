package api

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeJobSpecAcceptsAndDefaults(t *testing.T) {
	spec, err := DecodeJobSpec(strings.NewReader(`{"id":"web","type":"batch","cmd":"true","instances":2,"cpus":0.5,"mem":64,"env":{"A_1":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Retries == nil || *spec.Retries != 2 || spec.KillGraceSeconds == nil || *spec.KillGraceSeconds != 5 || spec.Role != DefaultJobRole || spec.Profile != "hardened" {
		t.Fatalf("defaults not applied: %+v", spec)
	}
}

func TestDecodeJobSpecNamesTheBadField(t *testing.T) {
	cases := []struct{ body, field, says string }{
		{`{"id":"x","type":"batch"`, "", "malformed JSON"},
		{``, "", "empty body"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1,"memory":2}`, "memory", "unknown field"},
		{`{"id":"x","type":"batch","cmd":"true","instances":"2","cpus":1,"mem":1}`, "instances", "got a JSON string, want int"},
		{`{"type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1}`, "id", "required"},
		{`{"id":"Web App","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1}`, "id", "lowercase"},
		{`{"id":"x","type":"daemon","cmd":"true","instances":1,"cpus":1,"mem":1}`, "type", "not a job type"},
		{`{"id":"x","type":"batch","cmd":"  ","instances":1,"cpus":1,"mem":1}`, "cmd", "required"},
		{`{"id":"x","type":"batch","cmd":"true","instances":0,"cpus":1,"mem":1}`, "instances", "between 1"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":0,"mem":1}`, "cpus", "more than 0"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":-0.5,"mem":1}`, "cpus", "more than 0"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":0}`, "mem", "more than 0"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1,"disk":-1}`, "disk", "negative"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1,"ports":-1}`, "ports", "between 0"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1,"env":{"1BAD":"x"}}`, "env.1BAD", "not a valid"},
		{`{"id":"x","type":"service","cmd":"true","instances":1,"cpus":1,"mem":1,"retries":3}`, "retries", "batch and cron jobs"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1} {"id":"y"}`, "", "one job per request"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1,"profile":"loose"}`, "profile", "not a profile"},
		{`{"id":"x","type":"batch","cmd":"true","instances":1,"cpus":1,"mem":1,"user":"Root;rm"}`, "user", "not a valid user"},
	}
	for _, c := range cases {
		_, err := DecodeJobSpec(strings.NewReader(c.body))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: err %v is not a ValidationError", c.body, err)
			continue
		}
		if ve.Field != c.field || !strings.Contains(ve.Error(), c.says) {
			t.Errorf("%s: got field %q message %q, want field %q saying %q", c.body, ve.Field, ve.Error(), c.field, c.says)
		}
	}
}

func TestDecodeJobSpecRejectsOversizedDocuments(t *testing.T) {
	body := `{"id":"x","type":"batch","cmd":"` + strings.Repeat("a", MaxJobSpecBytes) + `","instances":1,"cpus":1,"mem":1}`
	if _, err := DecodeJobSpec(strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized job: %v", err)
	}
}

func TestDecodeJobSpecReadsServiceFieldsAndDefaultsThem(t *testing.T) {
	spec, err := DecodeJobSpec(strings.NewReader(`{"id":"web","type":"service","args":["/bin/server","--port","$PORT0"],"instances":0,"cpus":0.5,"mem":64,"ports":1,
		"constraints":[["zone","GROUP_BY","3"],{"field":"hostname","operator":"unique","soft":true},["rack","LIKE","r[0-9]+","soft"]],
		"health_checks":[{"protocol":"http","port_index":0}],"upgrade_strategy":{"maximum_over_capacity":0.5}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Constraint{{Field: "zone", Operator: "GROUP_BY", Value: "3"}, {Field: "hostname", Operator: "UNIQUE", Soft: true}, {Field: "rack", Operator: "LIKE", Value: "r[0-9]+", Soft: true}}
	for i, c := range spec.Constraints {
		if c != want[i] {
			t.Errorf("constraint %d: %+v, want %+v", i, c, want[i])
		}
	}
	hc := spec.HealthChecks[0]
	if hc.Protocol != "HTTP" || hc.Path != "/" || *hc.GracePeriodSeconds != 300 || *hc.IntervalSeconds != 60 || *hc.TimeoutSeconds != 20 || *hc.MaxConsecutiveFailures != 3 {
		t.Errorf("health check defaults: %+v", hc)
	}
	if *spec.BackoffSeconds != 1 || *spec.BackoffFactor != 1.15 || *spec.MaxLaunchDelaySeconds != 300 ||
		*spec.UpgradeStrategy.MinimumHealthCapacity != 1 || *spec.UpgradeStrategy.MaximumOverCapacity != 0.5 || spec.Instances != 0 {
		t.Errorf("service defaults: %+v %+v", spec, spec.UpgradeStrategy)
	}
	if spec.Retries != nil {
		t.Error("a service got batch retries")
	}
}

func TestDecodeJobSpecReadsCronAndDependentJobs(t *testing.T) {
	cron, err := DecodeJobSpec(strings.NewReader(`{"id":"nightly","type":"cron","cmd":"backup","instances":1,"cpus":0.1,"mem":32,"schedule":"0 2 * * *","time_zone":"Europe/Berlin","max_completion_seconds":600}`))
	if err != nil {
		t.Fatal(err)
	}
	if cron.ConcurrencyPolicy != "forbid" || *cron.EpsilonSeconds != 60 || *cron.Retries != 2 || *cron.RetentionSeconds != 3600 {
		t.Errorf("cron defaults: %+v", cron)
	}
	if _, err := DecodeJobSpec(strings.NewReader(`{"id":"report","type":"batch","cmd":"report","instances":1,"cpus":0.1,"mem":32,"parents":["nightly","etl"]}`)); err != nil {
		t.Fatalf("a dependent batch job: %v", err)
	}
}

func TestDecodeJobSpecRefusesFieldsOfAnotherKindOfJob(t *testing.T) {
	base := `"instances":1,"cpus":1,"mem":1`
	cases := []struct{ body, field, says string }{
		{`{"id":"x","type":"service","cmd":"a","args":["b"],` + base + `}`, "args", "not both"},
		{`{"id":"x","type":"service","args":[""],` + base + `}`, "args[0]", "program"},
		{`{"id":"x","type":"batch","cmd":"a",` + base + `,"health_checks":[{"protocol":"TCP"}]}`, "health_checks", "services only"},
		{`{"id":"x","type":"service","cmd":"a",` + base + `,"health_checks":[{"protocol":"TCP","port_index":0}]}`, "health_checks[0].port_index", "ports"},
		{`{"id":"x","type":"service","cmd":"a",` + base + `,"health_checks":[{"protocol":"COMMAND"}]}`, "health_checks[0].command", "required"},
		{`{"id":"x","type":"service","cmd":"a",` + base + `,"health_checks":[{"protocol":"SMTP"}]}`, "health_checks[0].protocol", "HTTP"},
		{`{"id":"x","type":"service","cmd":"a",` + base + `,"upgrade_strategy":{"minimum_health_capacity":1,"maximum_over_capacity":0}}`, "upgrade_strategy", "never roll"},
		{`{"id":"x","type":"service","cmd":"a",` + base + `,"backoff_factor":0.5}`, "backoff_factor", "between 1"},
		{`{"id":"x","type":"service","cmd":"a",` + base + `,"schedule":"@daily"}`, "schedule", "not services"},
		{`{"id":"x","type":"cron","cmd":"a",` + base + `}`, "schedule", "required"},
		{`{"id":"x","type":"cron","cmd":"a",` + base + `,"schedule":"@daily","parents":["y"]}`, "parents", "batch job with parents"},
		{`{"id":"x","type":"batch","cmd":"a",` + base + `,"schedule":"@daily"}`, "schedule", "cron"},
		{`{"id":"x","type":"cron","cmd":"a",` + base + `,"schedule":"@daily","time_zone":"Mars/Olympus"}`, "time_zone", "IANA"},
		{`{"id":"x","type":"cron","cmd":"a",` + base + `,"schedule":"@daily","concurrency_policy":"queue"}`, "concurrency_policy", "forbid"},
		{`{"id":"x","type":"batch","cmd":"a",` + base + `,"parents":["x"]}`, "parents[0]", "own parent"},
		{`{"id":"x","type":"batch","cmd":"a",` + base + `,"parents":["y","y"]}`, "parents[1]", "twice"},
		{`{"id":"x","type":"batch","cmd":"a",` + base + `,"constraints":[["zone","NEAR"]]}`, "constraints[0].operator", "not an operator"},
		{`{"id":"x","type":"batch","cmd":"a",` + base + `,"constraints":[["rack","LIKE","r[0-"]]}`, "constraints[0].value", "regular expression"},
		{`{"id":"x","type":"batch","cmd":"a",` + base + `,"constraints":[["hostname","MAX_PER","0"]]}`, "constraints[0].value", "at least 1"},
		{`{"id":"x","type":"batch","cmd":"a","instances":0,"cpus":1,"mem":1}`, "instances", "between 1"},
	}
	for _, c := range cases {
		_, err := DecodeJobSpec(strings.NewReader(c.body))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !strings.Contains(ve.Error(), c.says) {
			t.Errorf("%s: got %v, want field %q saying %q", c.body, err, c.field, c.says)
		}
	}
	_, err := DecodeJobSpec(strings.NewReader(`{"id":"x","type":"batch","cmd":"a",` + base + `,"constraints":[["zone"]]}`))
	if err == nil || !strings.Contains(err.Error(), "constraint") {
		t.Errorf("a one-element constraint: %v", err)
	}
}
