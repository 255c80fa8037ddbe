package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "submit a job (a service or a batch job) from a JSON file, or - for stdin",
		ArgsUsage: "FILE|-",
		Description: "Submits the job document as written; the server checks it strictly (unknown fields are errors).\n" +
			"Submitting an existing id updates the job to a new version.\n\n" +
			"With --wait, follows the job until a service has all instances running or a batch job has\n" +
			"finished (exit 1 if it failed). A job that no node could ever fit stops the wait (exit 2).",
		Flags: append(clientFlags(false),
			&cli.BoolFlag{Name: "wait", Aliases: []string{"w"}, Usage: "wait until the job is running (service) or done (batch), showing progress"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "how long --wait waits"},
		),
		Action: clientAction(1, "FILE|-", func(c *cli.Context, env *clientEnv) error {
			name := c.Args().First()
			raw, err := readJobFile(name, c.App.Reader)
			if err != nil {
				return err
			}
			job, err := env.c.SubmitJobJSON(c.Context, raw)
			if err != nil {
				if name == "-" {
					name = "job from stdin"
				}
				return fmt.Errorf("%s: %w", name, err)
			}
			if env.json {
				if err := printJSON(env.stdout, job); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(env.stdout, "job %s submitted (version %d)\n", job.ID, job.Version)
			}
			if !c.Bool("wait") {
				return nil
			}
			return waitJob(c.Context, env, job.ID, c.Duration("timeout"))
		}),
	}
}

func readJobFile(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		raw, err := io.ReadAll(io.LimitReader(stdin, api.MaxJobSpecBytes+1))
		if err != nil {
			return nil, fmt.Errorf("read job from stdin: %w", err)
		}
		return raw, nil
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read job file: %w", err)
	}
	return raw, nil
}

// pollInterval is how often --wait re-reads the job when no change event
// arrives; events from /v1/events make it re-read at once.
const pollInterval = time.Second

// staleGrace is how long a job that was just submitted may be missing: the
// node answering reads may be a replica a few entries behind the leader.
const staleGrace = 5 * time.Second

// waitJob polls the job and its tasks until waitProgress says done, showing
// progress on stderr.
func waitJob(parent context.Context, env *clientEnv, id string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	p := newProgress(env.stderr)
	defer p.finish()
	spin := time.NewTicker(120 * time.Millisecond)
	defer spin.Stop()
	events, err := env.c.Events(ctx)
	if err != nil {
		events = nil // an old server or a proxy without streaming: poll only
	}
	started := time.Now()
	var nextPoll time.Time
	for {
		if !time.Now().Before(nextPoll) {
			nextPoll = time.Now().Add(pollInterval)
			job, err := env.c.Job(ctx, id)
			var tasks []api.Task
			if err == nil {
				tasks, err = env.c.Tasks(ctx, api.TaskFilter{Job: id})
			}
			if client.IsNotFound(err) && time.Since(started) < staleGrace {
				continue
			}
			if err != nil {
				return waitError(parent, ctx, err, id, timeout, p.last)
			}
			line, done, werr := waitProgress(job, tasks)
			p.show(line)
			if done {
				p.finish()
				return werr
			}
		}
		select {
		case <-ctx.Done():
			return waitError(parent, ctx, ctx.Err(), id, timeout, p.last)
		case <-spin.C:
			p.tick()
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			nextPoll = time.Time{}
		}
	}
}

func waitError(parent, ctx context.Context, err error, id string, timeout time.Duration, last string) error {
	switch {
	case parent.Err() != nil:
		return &codeError{code: 130, err: fmt.Errorf("stopped waiting; job %s keeps going (see 'clusterd job %s')", id, id)}
	case ctx.Err() != nil:
		return fmt.Errorf("timed out after %v waiting for job %s (%s); it keeps going: see 'clusterd job %s'", timeout, id, last, id)
	}
	return err
}

// waitProgress is the state of a --wait as a pure function of the job and
// its tasks: a one-line summary, whether waiting is over, and the error to
// exit with (a failed batch job, a deleted job, or an unplaceable one, which
// exits with code 2). Only tasks of the job's current version count.
func waitProgress(job api.Job, tasks []api.Task) (line string, done bool, err error) {
	var current []api.Task
	for _, t := range tasks {
		if t.JobVersion == 0 || t.JobVersion == job.Version {
			current = append(current, t)
		}
	}
	goal, goalState := "running", api.TaskRunning
	if job.Type == api.JobBatch {
		goal, goalState = "finished", api.TaskFinished
	}
	reached := map[int]bool{}
	byState := map[string]int{}
	for _, t := range current {
		if t.State == goalState {
			reached[t.Instance] = true
		} else {
			byState[t.State]++
		}
	}
	parts := []string{fmt.Sprintf("%d/%d %s", len(reached), job.Instances, goal)}
	for _, s := range []string{api.TaskStaging, api.TaskStarting, api.TaskRunning, api.TaskKilling, api.TaskFailed, api.TaskLost, api.TaskError, api.TaskKilled} {
		if n := byState[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(shortState(s))))
		}
	}
	if p := pendingText(job.Pending); p != "" {
		parts = append(parts, p)
	}
	line = job.ID + ": " + strings.Join(parts, ", ")

	switch {
	case job.State == api.JobStateDead:
		return line, true, fmt.Errorf("job %s was deleted while waiting", job.ID)
	case job.Pending != nil && job.Pending.Unplaceable:
		return line, true, &codeError{code: exitUsage, err: fmt.Errorf("job %s cannot be placed on any node: %s", job.ID, pendingText(job.Pending))}
	case job.Type == api.JobBatch && job.State == api.JobStateFailed:
		return line, true, batchFailure(job, current)
	case job.Type == api.JobBatch && job.State == api.JobStateComplete:
		return line, true, nil
	}
	return line, len(reached) >= job.Instances, nil
}

func batchFailure(job api.Job, tasks []api.Task) error {
	var b strings.Builder
	fmt.Fprintf(&b, "job %s failed", job.ID)
	n := 0
	for _, t := range tasks {
		if t.State != api.TaskFailed && t.State != api.TaskError && t.State != api.TaskLost {
			continue
		}
		if n++; n > 10 {
			b.WriteString("\n  ...")
			break
		}
		fmt.Fprintf(&b, "\n  task %s (instance %d): %s", t.ID, t.Instance, shortState(t.State))
		if t.ExitCode != nil {
			fmt.Fprintf(&b, ", exit code %d", *t.ExitCode)
		}
		if t.Message != "" {
			fmt.Fprintf(&b, ": %s", t.Message)
		}
	}
	fmt.Fprintf(&b, "\nsee its output with 'clusterd logs --stderr TASK'")
	return errors.New(b.String())
}

// progress draws one updating line with a spinner on a terminal, and plain
// lines (one per change) otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	last  string
	frame int
	open  bool // a spinner line is on screen
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progress) show(line string) {
	if !p.tty {
		if line != p.last {
			fmt.Fprintln(p.w, line)
		}
		p.last = line
		return
	}
	p.last = line
	p.draw()
}

func (p *progress) tick() {
	if p.tty && p.last != "" {
		p.frame++
		p.draw()
	}
}

func (p *progress) draw() {
	fmt.Fprintf(p.w, "\r\033[K%s %s", spinnerFrames[p.frame%len(spinnerFrames)], p.last)
	p.open = true
}

// finish leaves the last line on screen without the spinner.
func (p *progress) finish() {
	if p.open {
		fmt.Fprintf(p.w, "\r\033[K%s\n", p.last)
		p.open = false
	}
}
