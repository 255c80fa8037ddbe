package nodetest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterd/clusterd/web/api"
)

// taskProc is a live process of a task, found in /proc.
type taskProc struct {
	pid, pgid int
	taskID    string
	sandbox   string // its CLUSTERD_SANDBOX
}

// scanTaskProcs lists every live (not zombie) process on the machine that
// has CLUSTERD_TASK_ID in its environment, whichever cluster it belongs to.
func scanTaskProcs() []taskProc {
	entries, _ := os.ReadDir("/proc")
	var out []taskProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readTaskProc(pid)
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// readTaskProc reads one process; ok is false when it is gone, a zombie,
// or no task's.
func readTaskProc(pid int) (taskProc, bool) {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return taskProc{}, false
	}
	p := taskProc{pid: pid}
	for _, kv := range strings.Split(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "CLUSTERD_TASK_ID="); ok {
			p.taskID = v
		} else if v, ok := strings.CutPrefix(kv, "CLUSTERD_SANDBOX="); ok {
			p.sandbox = v
		}
	}
	if p.taskID == "" {
		return taskProc{}, false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return taskProc{}, false
	}
	// pid (comm) state ppid pgrp ...: comm may hold spaces and parens, so
	// read after the last ')'.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
		return taskProc{}, false
	}
	p.pgid, _ = strconv.Atoi(fields[2])
	return p, true
}

// TaskProcesses maps each task id to the pids of its live processes: every
// process on the machine with CLUSTERD_TASK_ID=<id> in its environment,
// zombies left out. It sees the tasks of every cluster on the machine; use
// Cluster.TaskProcesses for one cluster's.
func TaskProcesses() map[string][]int {
	m := map[string][]int{}
	for _, p := range scanTaskProcs() {
		m[p.taskID] = append(m[p.taskID], p.pid)
	}
	return m
}

// TaskProcesses is the package's TaskProcesses limited to this cluster's
// tasks: those whose sandbox is under the cluster's directory or whose id
// was seen in it.
func (c *Cluster) TaskProcesses() map[string][]int {
	m := map[string][]int{}
	for _, p := range c.taskProcs() {
		m[p.taskID] = append(m[p.taskID], p.pid)
	}
	return m
}

func (c *Cluster) taskProcs() []taskProc {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []taskProc
	for _, p := range scanTaskProcs() {
		if c.seen[p.taskID] || strings.HasPrefix(p.sandbox, c.dir+string(filepath.Separator)) {
			out = append(out, p)
		}
	}
	return out
}

// checkpoint is the part of DATA/agent/tasks/<id>/task.json the harness reads.
type checkpoint struct {
	TaskID string `json:"task_id"`
	PID    int    `json:"pid"` // the task's process group
}

// checkpoints reads every task checkpoint in the cluster's data dirs.
func (c *Cluster) checkpoints() []checkpoint {
	paths, _ := filepath.Glob(filepath.Join(c.dir, "node-*", "data", "agent", "tasks", "*", "task.json"))
	var out []checkpoint
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var cp checkpoint
		if json.Unmarshal(b, &cp) != nil {
			continue
		}
		if cp.TaskID == "" {
			cp.TaskID = filepath.Base(filepath.Dir(p))
		}
		out = append(out, cp)
	}
	return out
}

// killTasks SIGKILLs every task process of the cluster: the process groups
// in the checkpoints (only when /proc shows the group leader is still that
// task, so a reused pid is never hit) and every process TaskProcesses
// finds. It repeats until none is left, for up to 10 s.
func (c *Cluster) killTasks() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		cps := c.checkpoints()
		c.mu.Lock()
		for _, cp := range cps {
			c.seen[cp.TaskID] = true
		}
		c.mu.Unlock()
		for _, cp := range cps {
			if p, ok := readTaskProc(cp.PID); ok && cp.PID > 1 && p.taskID == cp.TaskID {
				_ = syscall.Kill(-cp.PID, syscall.SIGKILL)
			}
		}
		left := c.taskProcs()
		if len(left) == 0 || time.Now().After(deadline) {
			return
		}
		for _, p := range left {
			if p.pid > 1 {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
		time.Sleep(pollEvery)
	}
}

// AssertNoTaskRunsTwice checks, waiting up to 10 s for replaced tasks to
// die, that every task of the cluster has its live processes in at most
// one process group, and that no instance of a service job has live
// processes under two task ids.
func (c *Cluster) AssertNoTaskRunsTwice(t *testing.T) {
	t.Helper()
	c.eventually(t, "no task runs twice", 10*time.Second, func() (bool, string) {
		why := c.duplicates()
		return why == "", why
	})
}

// duplicates describes the tasks that run twice, or returns "".
func (c *Cluster) duplicates() string {
	groups := map[string][]int{} // task id -> pgids
	for _, p := range c.taskProcs() {
		if !slices.Contains(groups[p.taskID], p.pgid) {
			groups[p.taskID] = append(groups[p.taskID], p.pgid)
		}
	}
	var problems []string
	for id, pgids := range groups {
		if len(pgids) > 1 {
			problems = append(problems, fmt.Sprintf("task %s runs in process groups %v", id, pgids))
		}
	}
	// Instances of services, from any node that answers.
	var tasks []api.Task
	var jobs []api.Job
	var err error
	anyLive := false
	for _, n := range c.Nodes() {
		if !c.live(n) {
			continue
		}
		anyLive = true
		if tasks, err = c.Tasks(n.Index); err == nil {
			if jobs, err = c.Jobs(n.Index); err == nil {
				break
			}
		}
	}
	// With no node running, only the process groups can be checked.
	if anyLive && (err != nil || tasks == nil) {
		problems = append(problems, fmt.Sprintf("no node lists the tasks to check instances against (%v)", err))
	}
	service := map[string]bool{}
	for _, j := range jobs {
		service[j.ID] = j.Type == api.JobService
	}
	type instance struct {
		job string
		n   int
	}
	byInstance := map[instance][]string{}
	for _, task := range tasks {
		if service[task.Job] && len(groups[task.ID]) > 0 {
			k := instance{task.Job, task.Instance}
			byInstance[k] = append(byInstance[k], task.ID)
		}
	}
	for k, ids := range byInstance {
		if len(ids) > 1 {
			problems = append(problems, fmt.Sprintf("instance %d of service %s runs as tasks %v", k.n, k.job, ids))
		}
	}
	slices.Sort(problems)
	return strings.Join(problems, "; ")
}

// RunningByNode lists, per node name, the task ids of the live task
// process groups whose sandbox lies in that node's directory: what really
// runs on each agent, read from /proc, not from any node's report. A task
// started twice on one agent appears twice.
func (c *Cluster) RunningByNode() map[string][]string {
	out := map[string][]string{}
	type unit struct {
		node, task string
		pgid       int
	}
	seen := map[unit]bool{}
	for _, p := range c.taskProcs() {
		rel, err := filepath.Rel(c.dir, p.sandbox)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		node := strings.SplitN(rel, string(filepath.Separator), 2)[0]
		u := unit{node, p.taskID, p.pgid}
		if !seen[u] {
			seen[u] = true
			out[node] = append(out[node], p.taskID)
		}
	}
	return out
}
