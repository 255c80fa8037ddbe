package isolate

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzCheckpoint reads task.json and exit.json as a restarted agent does,
// from any bytes (a file left by a crash, a disk error, an edit): decoding
// never panics, what decodes survives a write and a read unchanged, and
// the only cgroup directories a checkpoint can make the agent act on are
// the agent's own for that task, whatever the file names.
func FuzzCheckpoint(f *testing.F) {
	root := fakeV1(f)
	m, err := newCgroupManager(root, "clusterd", 128)
	if err != nil {
		f.Fatalf("newCgroupManager: %v", err)
	}
	own, _ := json.Marshal(taskCheckpoint{Version: 1, TaskID: "t1", PID: 42, CgroupVersion: 1, Cgroups: m.taskCgroup("t1", Limits{}).dirs, MemLimitMiB: 64})
	f.Add(own)
	f.Add([]byte(`{"version":1,"task_id":"t1","pid":7,"cgroup_version":1,"cgroups":{"memory":"/sys/fs/cgroup/memory"}}`))
	f.Add([]byte(`{"version":1,"task_id":"t1","cgroup_version":2,"cgroups":{"unified":"../../.."}}`))
	f.Add([]byte(`{"version":1,"task_id":"t1","reason":"Exited","exit_code":3,"signal":"SIGKILL","limitation":"memory"}`))
	f.Add([]byte(`{"run_as":{"uid":0,"gid":0},"env":["A=B"]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var cp taskCheckpoint
		if json.Unmarshal(b, &cp) == nil {
			again, err := json.Marshal(cp)
			if err != nil {
				t.Fatalf("a decoded task checkpoint does not encode: %v", err)
			}
			var back taskCheckpoint
			if err := json.Unmarshal(again, &back); err != nil || !reflect.DeepEqual(normalized(back), normalized(cp)) {
				t.Fatalf("task checkpoint changed through a write and a read: %+v -> %+v (%v)", cp, back, err)
			}
			cg, err := trustedCgroup(m, "t1", &cp)
			if cg != nil {
				if err != nil {
					t.Fatalf("a trusted cgroup with an error: %v", err)
				}
				for controller, dir := range cg.dirs {
					if !strings.HasPrefix(dir, root+string(filepath.Separator)) || filepath.Base(dir) != "t1" {
						t.Fatalf("checkpoint %s made the agent trust %s for %s", b, dir, controller)
					}
				}
			}
			if cg, _ := trustedCgroup(nil, "t1", &cp); cg != nil {
				t.Fatalf("an agent without cgroups trusted %v", cg.dirs)
			}
		}
		var ex exitCheckpoint
		if json.Unmarshal(b, &ex) == nil {
			e := ex.exit()
			if e.Reason < Exited || e.Reason > LaunchFailed {
				if e.Reason != Lost {
					t.Fatalf("exit checkpoint %s read as reason %v", b, e.Reason)
				}
			}
		}
	})
}

// normalized makes nil and empty maps and slices compare equal: JSON does
// not tell them apart.
func normalized(c taskCheckpoint) taskCheckpoint {
	if len(c.Cgroups) == 0 {
		c.Cgroups = nil
	}
	if len(c.Env) == 0 {
		c.Env = nil
	}
	c.LaunchedAt = c.LaunchedAt.UTC()
	return c
}
