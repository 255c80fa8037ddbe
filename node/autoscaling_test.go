package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAutoscaleConfigIsCheckedAtStartNamingTheField(t *testing.T) {
	dir := t.TempDir()
	load := func(body string) (*autoscaleConfig, error) {
		p := filepath.Join(dir, "a.json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return loadAutoscaleConfig(p, false)
	}
	group := `{"name":"web","min_size":1,"max_size":5,"max_idle":1,"cooldown":"1m","shape":{"cpus":4,"mem":8192},"actuator":{"type":"command","command":["/bin/true"]}}`
	c, err := load(`{"groups":[` + group + `]}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.attribute != "asg" || c.interval != 10*time.Second || c.bootTimeout != 10*time.Minute || c.rules[0].Cooldown != time.Minute || c.rules[0].MaxIdle != 1 {
		t.Fatalf("defaults or values not read: %+v", c)
	}
	for body, want := range map[string]string{
		`{"groups":[]}`: "no groups",
		`{"groups":[` + group + `],"interval":"fast"}`:                                            "fast",
		`{"groups":[` + group + `],"colour":"red"}`:                                               "colour",
		`{"groups":[` + strings.Replace(group, `"max_size":5`, `"max_size":0`, 1) + `]}`:          "max size",
		`{"groups":[` + strings.Replace(group, `"cpus":4`, `"cpus":0`, 1) + `]}`:                  "shape",
		`{"groups":[` + strings.Replace(group, `"type":"command"`, `"type":"teleport"`, 1) + `]}`: "teleport",
		`{"groups":[` + group + `,` + group + `]}`:                                                "twice",
	} {
		if _, err := load(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %q", body, err, want)
		}
	}
	if _, err := loadAutoscaleConfig(filepath.Join(dir, "missing.json"), false); err == nil {
		t.Error("a missing file is not an error")
	}
}
