package isolate

import "context"

var _ Execer = (*Cgroupfs)(nil)

// Exec runs command inside a running task's cgroup, as the task's user, in
// its sandbox, with its environment; see Execer and Process.Exec.
//
// The command is born inside the task's cgroup, as the task was: on v2 the
// kernel clones it there (CLONE_INTO_CGROUP, SysProcAttr.UseCgroupFD with
// the task's cgroup directory), on v1 the forking thread joins the task's
// cgroups for the fork (taskCgroup.startV1, with the same fallback as
// Launch where the thread could not return). So it shares the task's CPU
// quota, memory limit and pids.max, and dies with the task: Kill signals
// it too, and a task that ends takes its running checks with it.
func (c *Cgroupfs) Exec(ctx context.Context, taskID, command string) (int, string, error) {
	return c.proc.Exec(ctx, taskID, command)
}
