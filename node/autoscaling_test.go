package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
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

// The leader acts on a group below its min size at once, through the
// command; with dry run it records the same decision and runs nothing.
func TestAutoscalerActsThroughTheCommandAndDryRunOnlyReports(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry run %v", dry), func(t *testing.T) {
			dir := t.TempDir()
			ran := filepath.Join(dir, "ran")
			script := filepath.Join(dir, "act.sh")
			if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$CLUSTERD_AUTOSCALE_KIND $CLUSTERD_AUTOSCALE_COUNT\" >>"+ran+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			cfgPath := filepath.Join(dir, "autoscale.json")
			cfg := `{"interval":"100ms","groups":[{"name":"g","min_size":3,"max_size":5,"shape":{"cpus":1,"mem":512},` +
				`"actuator":{"type":"command","command":["` + script + `"]}}]}`
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			n := startNodeWith(t, func(c *Config) {
				c.AutoscaleFile, c.AutoscaleDryRun = cfgPath, dry
				c.Attributes = map[string]string{"asg": "g"}
			})
			b := &backend{n: n}
			var st api.AutoscaleStatus
			deadline := time.Now().Add(15 * time.Second)
			for {
				var err error
				st, err = b.Autoscale(context.Background())
				if err == nil && len(st.Decisions) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no decision within 15 s: %+v, %v", st, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			d := st.Decisions[0]
			if d.Kind != "scale_up" || d.Count != 3-d.Size || d.Size > 1 || !strings.Contains(d.Reason, "below min size 3") || d.DryRun != dry || d.Error != "" {
				t.Fatalf("decision %+v: want scale_up to min size 3, dry run %v", d, dry)
			}
			if !st.Enabled || st.DryRun != dry || len(st.Groups) != 1 || st.Groups[0].Rules.MinSize != 3 || !strings.Contains(st.Groups[0].Actuator, "act.sh") {
				t.Fatalf("status %+v", st)
			}
			outcome := map[bool]string{false: "done", true: "dry_run"}[dry]
			if got := labeledCounter(t, n, "clusterd_autoscale_decisions_total", map[string]string{"group": "g", "kind": "scale_up", "outcome": outcome}); got < 1 {
				t.Errorf("clusterd_autoscale_decisions_total{outcome=%q} = %v, want at least 1", outcome, got)
			}
			b2, err := os.ReadFile(ran)
			switch {
			case dry && err == nil:
				t.Fatalf("dry run ran the command: %s", b2)
			case !dry && !strings.HasPrefix(string(b2), fmt.Sprintf("scale_up %d\n", d.Count)):
				t.Fatalf("the command ran with %q (%v), want \"scale_up %d\"", b2, err, d.Count)
			}
		})
	}
}

// labeledCounter reads a counter of the node's registry by its labels.
func labeledCounter(t *testing.T, n *Node, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := n.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
