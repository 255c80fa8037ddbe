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
		{`{"id":"x","type":"service","cmd":"true","instances":1,"cpus":1,"mem":1,"retries":3}`, "retries", "batch jobs only"},
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
