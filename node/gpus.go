package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// gpuAssigner gives a task specific GPUs of this machine. The allocator
// counts GPUs per node; which devices a task gets is the agent's business,
// recorded in DATA/agent/gpus.json so a restarted agent never hands a device
// in use to a second task.
type gpuAssigner struct {
	path    string
	devices []string            // device indices, "0", "1", ...
	byTask  map[string][]string // task -> devices
}

func newGPUAssigner(dir string, count int) (*gpuAssigner, error) {
	g := &gpuAssigner{path: filepath.Join(dir, "gpus.json"), byTask: map[string][]string{}}
	for i := 0; i < count; i++ {
		g.devices = append(g.devices, strconv.Itoa(i))
	}
	b, err := os.ReadFile(g.path)
	if err == nil {
		if err := json.Unmarshal(b, &g.byTask); err != nil {
			return nil, fmt.Errorf("read GPU assignments %s: %w", g.path, err)
		}
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("read GPU assignments: %w", err)
	}
	return g, nil
}

// assign picks n free devices for a task (the lowest first), or says how
// many are free when there are too few.
func (g *gpuAssigner) assign(task string, n int) ([]string, error) {
	if n == 0 {
		return nil, nil
	}
	if have, ok := g.byTask[task]; ok {
		return have, nil
	}
	used := map[string]bool{}
	for _, devs := range g.byTask {
		for _, d := range devs {
			used[d] = true
		}
	}
	var got []string
	for _, d := range g.devices {
		if !used[d] && len(got) < n {
			got = append(got, d)
		}
	}
	if len(got) < n {
		return nil, fmt.Errorf("task wants %d GPUs but %d of this node's %d are free", n, len(got), len(g.devices))
	}
	g.byTask[task] = got
	return got, g.save()
}

// release frees a task's devices.
func (g *gpuAssigner) release(task string) {
	if _, ok := g.byTask[task]; !ok {
		return
	}
	delete(g.byTask, task)
	_ = g.save()
}

// keepOnly drops assignments of tasks that no longer run here (after a
// restart, for tasks that ended while the agent was down).
func (g *gpuAssigner) keepOnly(running map[string]bool) {
	changed := false
	for task := range g.byTask {
		if !running[task] {
			delete(g.byTask, task)
			changed = true
		}
	}
	if changed {
		_ = g.save()
	}
}

func (g *gpuAssigner) save() error {
	b, err := json.Marshal(g.byTask)
	if err != nil {
		return err
	}
	tmp := g.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save GPU assignments: %w", err)
	}
	return os.Rename(tmp, g.path)
}

// inUse lists assigned devices, sorted (for tests and logs).
func (g *gpuAssigner) inUse() []string {
	var out []string
	for _, devs := range g.byTask {
		out = append(out, devs...)
	}
	sort.Strings(out)
	return out
}
