package main

// The commands that act on a job without submitting it again: scale (a
// service's instance count) and start (a run of a batch or cron job now).

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
)

// waitFlags are --wait and --timeout of a command that can follow what it
// started; what says what --wait waits for.
func waitFlags(what string) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "wait", Aliases: []string{"w"}, Usage: "wait until " + what + ", showing progress"},
		&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "how long --wait waits; past it, exit 3 (what was started keeps going)"},
	}
}

func scaleCommand() *cli.Command {
	const usage = "clusterd scale [--wait [--timeout DURATION]] JOB INSTANCES"
	return &cli.Command{
		Name:      "scale",
		Usage:     "set a service's instance count (0 suspends it) without a new version",
		UsageText: usage + "\n\nExample: clusterd scale --wait web 5",
		Description: "Adds instances, or stops the highest ones; the version stays, so nothing rolls. With --wait,\n" +
			"waits until INSTANCES instances run (and are healthy, where the service has health checks)\n" +
			"and those scaled away have stopped; a service that no node could fit stops the wait (exit 2).\n" +
			"Batch and cron jobs take their instance count from a new submission ('clusterd run').",
		Flags: append(clientFlags(false), waitFlags("the instances run")...),
		Action: operatorAction(2, 2, usage, func(c *cli.Context, env *clientEnv, args []string) error {
			id := args[0]
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return usageErrorf("instances %q: give a whole number, 0 or more (0 suspends the service): clusterd scale %s 3", args[1], id)
			}
			job, err := env.c.ScaleJob(c.Context, id, n)
			if err != nil {
				return jobActionError(c.Context, env, id, "scale", "submit the job with the new instance count ('clusterd run') instead", err)
			}
			if err := printOutcome(env, job, "job %s scaled to %s (version %d)", job.ID, instancesText(job.Instances), job.Version); err != nil {
				return err
			}
			if !c.Bool("wait") {
				return nil
			}
			return waitJob(c.Context, env, id, c.Duration("timeout"), waiter{
				fresh:    func(j api.Job) bool { return j.Instances == n },
				progress: serviceProgress,
			})
		}),
	}
}

// printOutcome says what a command did to a job: the job as the server
// answered with -o json, the line otherwise.
func printOutcome(env *clientEnv, job api.Job, format string, args ...any) error {
	if env.json {
		return printJSON(env.stdout, job)
	}
	_, err := fmt.Fprintf(env.stdout, format+"\n", args...)
	return err
}

func instancesText(n int) string {
	if n == 1 {
		return "1 instance"
	}
	return strconv.Itoa(n) + " instances"
}

func startCommand() *cli.Command {
	const usage = "clusterd start [--wait [--timeout DURATION]] JOB"
	return &cli.Command{
		Name:      "start",
		Usage:     "start a run of a batch or cron job now, whatever its schedule or parents",
		UsageText: usage + "\n\nExample: clusterd start --wait nightly-report",
		Description: "Starts a run of the job's current version now, as Chronos's manual start does. While a run\n" +
			"is running, a job whose concurrency_policy is forbid (the default) refuses; replace stops\n" +
			"the running one. With --wait, waits for the new run to end: exit 0 if it succeeded, 1 with\n" +
			"its message if it failed.",
		Flags: append(clientFlags(false), waitFlags("the run has ended")...),
		Action: operatorAction(1, 1, usage, func(c *cli.Context, env *clientEnv, args []string) error {
			id := args[0]
			job, err := env.c.StartRun(c.Context, id)
			if err != nil {
				return jobActionError(c.Context, env, id, "start a run of", "submitting a changed job ('clusterd run') starts a run of its new version", err)
			}
			if len(job.Runs) == 0 {
				return fmt.Errorf("start a run of job %s: the server reports no runs of it; see 'clusterd job %s'", id, id)
			}
			number := job.Runs[len(job.Runs)-1].Number
			if err := printOutcome(env, job, "started run %d of %s", number, job.ID); err != nil {
				return err
			}
			if !c.Bool("wait") {
				return nil
			}
			err = waitJob(c.Context, env, id, c.Duration("timeout"), waiter{
				fresh:    func(j api.Job) bool { return len(j.Runs) > 0 && j.Runs[len(j.Runs)-1].Number >= number },
				progress: func(j api.Job, ts []api.Task) (string, bool, error) { return runProgress(j, ts, number) },
			})
			if err == nil && !env.json {
				fmt.Fprintf(env.stdout, "run %d of %s succeeded\n", number, job.ID)
			}
			return err
		}),
	}
}

// jobActionError explains a failed action on a job (verb: "scale"). A
// 404 means either no such job or a server without the action's endpoint
// (an older clusterd); reading the job tells which, and oldServer says
// what to do then.
func jobActionError(ctx context.Context, env *clientEnv, id, verb, oldServer string, err error) error {
	if !client.IsNotFound(err) {
		return fmt.Errorf("%s job %s: %w", verb, id, err)
	}
	if _, jerr := env.c.Job(ctx, id); jerr == nil {
		return fmt.Errorf("%s job %s: %s cannot do this (is it an older clusterd? see 'clusterd status'); %s", verb, id, env.c.Addr(), oldServer)
	}
	return fmt.Errorf("job %q not found; see 'clusterd jobs'", id)
}
