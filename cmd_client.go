package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
)

func statusCommand() *cli.Command {
	return readCommand("status", "show the cluster at a glance: leader, nodes, capacity, tasks", (*client.Client).Status,
		func(w io.Writer, s api.Status, _ time.Time) error { return writeStatus(w, s) })
}

func nodesCommand() *cli.Command {
	return readCommand("nodes", "list the machines of the cluster", (*client.Client).Nodes,
		func(w io.Writer, ns []api.Node, _ time.Time) error { return writeNodes(w, ns) })
}

func jobsCommand() *cli.Command {
	return readCommand("jobs", "list jobs", (*client.Client).Jobs, writeJobs)
}

// readCommand is a command without arguments that reads one thing from the
// API and prints it as a table, or as JSON with -o json.
func readCommand[T any](name, usage string, fetch func(*client.Client, context.Context) (T, error), table func(io.Writer, T, time.Time) error) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Flags: clientFlags(false),
		Action: clientAction(0, "", func(c *cli.Context, env *clientEnv) error {
			v, err := fetch(env.c, c.Context)
			if err != nil {
				return err
			}
			if env.json {
				return printJSON(env.stdout, v)
			}
			return table(env.stdout, v, nowOf(c))
		}),
	}
}

func jobCommand() *cli.Command {
	show := func(c *cli.Context, env *clientEnv) error {
		id := c.Args().First()
		j, err := env.c.Job(c.Context, id)
		if err != nil {
			if client.IsNotFound(err) {
				return fmt.Errorf("job %q not found; see 'clusterd jobs'", id)
			}
			return err
		}
		if env.json {
			return printJSON(env.stdout, j)
		}
		tasks, err := env.c.Tasks(c.Context, api.TaskFilter{Job: id, Active: true})
		if err != nil {
			return err
		}
		return writeJob(env.stdout, j, tasks, nowOf(c))
	}
	return &cli.Command{
		Name:      "job",
		Usage:     "show one job in detail: its settings, roll-out or runs, and its active tasks",
		ArgsUsage: "JOB",
		Flags:     clientFlags(false),
		Action:    clientAction(1, "JOB", show),
		// "clusterd job show JOB" reads as Nomad's "job status" does.
		Subcommands: []*cli.Command{{
			Name:      "show",
			Usage:     "the same as clusterd job JOB",
			ArgsUsage: "JOB",
			Flags:     clientFlags(false),
			Action:    clientAction(1, "JOB", show),
		}},
	}
}

func psCommand() *cli.Command {
	return &cli.Command{
		Name:  "ps",
		Usage: "list tasks (all that the cluster remembers; --active for running ones only)",
		Description: "Lists tasks, newest first. Without --active, terminal tasks (finished, failed, killed, lost)\n" +
			"that the cluster still keeps are shown too. Task ids are cut to fit; any unique prefix of an\n" +
			"id works with `logs` and `kill`, or use --no-trunc.",
		Flags: append(clientFlags(false),
			&cli.StringFlag{Name: "job", Usage: "only tasks of this job"},
			&cli.StringFlag{Name: "node", Usage: "only tasks on this node (id)"},
			&cli.StringFlag{Name: "state", Usage: "only tasks in this state, e.g. running or TASK_FAILED"},
			&cli.BoolFlag{Name: "active", Usage: "only tasks that are not terminal"},
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not cut ids"},
		),
		Action: clientAction(0, "", func(c *cli.Context, env *clientEnv) error {
			f := api.TaskFilter{Job: c.String("job"), Node: c.String("node"), Active: c.Bool("active")}
			if s := c.String("state"); s != "" {
				f.State = normalizeState(s)
			}
			ts, err := env.c.Tasks(c.Context, f)
			if err != nil {
				return err
			}
			if env.json {
				return printJSON(env.stdout, ts)
			}
			if err := writeTasks(env.stdout, ts, nowOf(c), c.Bool("no-trunc")); err != nil {
				return err
			}
			// Instances with no task yet are not in the list: say why.
			if f.Node != "" || f.State != "" {
				return nil
			}
			jobs, err := env.c.Jobs(c.Context)
			if err != nil {
				return err
			}
			return writeNotPlaced(env.stdout, jobs, f.Job)
		}),
	}
}

// normalizeState accepts "running", "RUNNING" or "TASK_RUNNING".
func normalizeState(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(s, "TASK_") {
		s = "TASK_" + s
	}
	return s
}

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "kill a task, or delete a job and kill its tasks",
		ArgsUsage: "TASK|JOB",
		Description: "With a task id (or a unique prefix of one), kills that task; a service starts a replacement.\n" +
			"With a job id, deletes the job and kills all its tasks. It does not ask for confirmation.",
		Flags: clientFlags(false),
		Action: clientAction(1, "TASK|JOB", func(c *cli.Context, env *clientEnv) error {
			ctx, arg := c.Context, c.Args().First()
			if _, err := env.c.Task(ctx, arg); err == nil {
				return killTask(ctx, env, arg)
			} else if !client.IsNotFound(err) {
				return err
			}
			if j, err := env.c.Job(ctx, arg); err == nil {
				if err := env.c.DeleteJob(ctx, j.ID); err != nil {
					return fmt.Errorf("delete job %s: %w", j.ID, err)
				}
				n := 0
				for state, k := range j.Tasks {
					if !api.TaskStateTerminal(state) {
						n += k
					}
				}
				return env.say(outcome{Action: "delete_job", Job: j.ID, ActiveTasks: intPtr(n)},
					"deleted job %s; killing its %d active task(s)", j.ID, n)
			} else if !client.IsNotFound(err) {
				return err
			}
			t, err := resolveTaskPrefix(ctx, env.c, arg, true)
			if err != nil {
				return err
			}
			return killTask(ctx, env, t.ID)
		}),
	}
}

func killTask(ctx context.Context, env *clientEnv, id string) error {
	if err := env.c.KillTask(ctx, id); err != nil {
		return fmt.Errorf("kill task %s: %w", id, err)
	}
	return env.say(outcome{Action: "kill_task", Task: id}, "killing task %s", id)
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a task's stdout (or --stderr)",
		ArgsUsage: "TASK",
		Description: "TASK is a task id, a unique prefix of one, or a job id whose tasks all belong to one\n" +
			"instance (the newest task is shown).",
		Flags: append(clientFlags(false),
			&cli.BoolFlag{Name: "stderr", Usage: "show stderr instead of stdout"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new output until interrupted"},
		),
		Action: clientAction(1, "TASK", func(c *cli.Context, env *clientEnv) error {
			if env.json {
				// The output is the task's own bytes, streamed as they come
				// (with --follow, forever): there is no document to encode.
				return usageErrorf("logs prints the task's output as it is; -o json does not apply (see 'clusterd ps -o json' for task details)")
			}
			ctx := c.Context
			t, err := resolveLogTask(ctx, env.c, c.Args().First())
			if err != nil {
				return err
			}
			stream := "stdout"
			if c.Bool("stderr") {
				stream = "stderr"
			}
			err = env.c.TaskLog(ctx, t.ID, stream, c.Bool("follow"), env.stdout)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}),
	}
}

// resolveLogTask finds the task `logs ARG` means: an exact id, a unique
// prefix, or a job whose tasks are all one instance.
func resolveLogTask(ctx context.Context, c *client.Client, arg string) (api.Task, error) {
	t, err := c.Task(ctx, arg)
	if err == nil || !client.IsNotFound(err) {
		return t, err
	}
	jobTasks, err := c.Tasks(ctx, api.TaskFilter{Job: arg})
	if err != nil {
		return api.Task{}, err
	}
	if len(jobTasks) > 0 {
		instances := map[int]bool{}
		newest := jobTasks[0]
		for _, t := range jobTasks {
			instances[t.Instance] = true
			if t.CreatedAt.After(newest.CreatedAt) {
				newest = t
			}
		}
		if len(instances) == 1 {
			return newest, nil
		}
		return api.Task{}, usageErrorf("job %s has %d instances; pick a task: %s", arg, len(instances), taskIDList(jobTasks))
	}
	return resolveTaskPrefix(ctx, c, arg, false)
}

// resolveTaskPrefix finds the one task whose id starts with prefix.
func resolveTaskPrefix(ctx context.Context, c *client.Client, prefix string, orJob bool) (api.Task, error) {
	what := "task"
	if orJob {
		what = "task or job"
	}
	all, err := c.Tasks(ctx, api.TaskFilter{})
	if err != nil {
		return api.Task{}, err
	}
	var matches []api.Task
	for _, t := range all {
		if strings.HasPrefix(t.ID, prefix) {
			matches = append(matches, t)
		}
	}
	switch len(matches) {
	case 0:
		return api.Task{}, fmt.Errorf("no %s %q; see 'clusterd ps'", what, prefix)
	case 1:
		return matches[0], nil
	}
	return api.Task{}, usageErrorf("%q matches %d tasks: %s; give more of the id", prefix, len(matches), taskIDList(matches))
}

func taskIDList(ts []api.Task) string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	sort.Strings(ids)
	if len(ids) > 5 {
		ids = append(ids[:5], "...")
	}
	return strings.Join(ids, ", ")
}
