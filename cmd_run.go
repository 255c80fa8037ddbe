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
	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "submit a job (a service, a batch or a cron job) from a JSON file, or - for stdin",
		ArgsUsage: "FILE|-",
		Description: "Submits the job document as written; the server checks it strictly (unknown fields are errors).\n" +
			"Submitting an existing id updates the job to a new version.\n\n" +
			"With --wait, follows the job until a service's roll-out is done (all instances of the new\n" +
			"version running, and healthy where it has health checks) or a batch job's run has ended\n" +
			"(exit 1 if it failed); a cron job or one that waits for its parents is done once accepted.\n" +
			"A job that no node could ever fit stops the wait (exit 2).",
		Flags: append(clientFlags(false), waitFlags("a service's roll-out is done or a batch job's run has ended")...),
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
			if err := printOutcome(env, job, "job %s submitted (version %d)", job.ID, job.Version); err != nil {
				return err
			}
			if !c.Bool("wait") {
				return nil
			}
			return waitJob(c.Context, env, job.ID, c.Duration("timeout"), waiter{
				fresh:    func(j api.Job) bool { return j.Version >= job.Version },
				progress: waitProgress,
			})
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

// waiter is what a --wait waits for.
type waiter struct {
	// fresh reports whether a read of the job shows the change just made:
	// the node answering reads may be a replica a few entries behind the
	// leader, so for up to staleGrace a read that is not fresh is skipped.
	fresh func(api.Job) bool
	// progress is the state of the wait as a pure function of the job and
	// its tasks: a one-line summary, whether waiting is over, and the
	// error to exit with.
	progress func(job api.Job, tasks []api.Task) (line string, done bool, err error)
}

// waitJob polls the job and its tasks until w.progress says done, showing
// progress on stderr.
func waitJob(parent context.Context, env *clientEnv, id string, timeout time.Duration, w waiter) error {
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
			stale := client.IsNotFound(err) || (err == nil && w.fresh != nil && !w.fresh(job))
			if stale && time.Since(started) < staleGrace {
				continue
			}
			var tasks []api.Task
			if err == nil {
				tasks, err = env.c.Tasks(ctx, api.TaskFilter{Job: id})
			}
			if err != nil {
				return waitError(parent, ctx, err, id, timeout, p.last)
			}
			line, done, werr := w.progress(job, tasks)
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
		return &codeError{code: exitInterrupt, err: fmt.Errorf("stopped waiting; job %s keeps going (see 'clusterd job %s')", id, id)}
	case ctx.Err() != nil:
		// The progress line starts with the job's id, already named here.
		last = strings.TrimPrefix(last, id+": ")
		return &codeError{code: exitTimeout, err: fmt.Errorf("timed out after %v waiting for job %s: %s; it keeps going: see 'clusterd job %s'", timeout, id, dash(last), id)}
	}
	return err
}

// waitProgress is the progress of `run --wait`: a service until its
// roll-out is done (serviceProgress), a batch job until the run of its
// current version ends (runProgress). A cron job, or a batch job that
// waits for its parents, is done once accepted: it runs later. A job
// that can never be placed ends the wait with exit code 2.
func waitProgress(job api.Job, tasks []api.Task) (line string, done bool, err error) {
	if job.Type == api.JobService {
		return serviceProgress(job, tasks)
	}
	r := latestRunOf(job, job.Version)
	switch {
	case r != nil && (job.Type == api.JobBatch || r.State == api.RunRunning):
		return runProgress(job, tasks, r.Number)
	case job.Type == api.JobCron && job.NextRun.IsZero():
		return job.ID + ": its schedule has no more runs", true, jobEnded(job)
	case job.Type == api.JobCron:
		return job.ID + ": scheduled, next run " + zonedTime(job.NextRun, job.TimeZone), true, jobEnded(job)
	case len(job.Parents) > 0:
		return job.ID + ": waiting for its parents (" + strings.Join(job.Parents, ", ") + ") to succeed; it runs then", true, jobEnded(job)
	}
	return batchProgress(job, tasks)
}

// latestRunOf is the newest run of a job's version, or nil.
func latestRunOf(job api.Job, version uint64) *api.Run {
	for i := len(job.Runs) - 1; i >= 0; i-- {
		if job.Runs[i].Version == version {
			return &job.Runs[i]
		}
	}
	return nil
}

// jobEnded is the error that ends any wait early, whatever it waits for:
// the job was deleted, or it can never be placed (exit code 2).
func jobEnded(job api.Job) error {
	switch {
	case job.State == api.JobStateDead:
		return fmt.Errorf("job %s was deleted while waiting", job.ID)
	case job.Pending != nil && job.Pending.Unplaceable:
		return &codeError{code: exitUsage, err: fmt.Errorf("job %s cannot be placed on any node: %s", job.ID, pendingText(job.Pending))}
	}
	return nil
}

// instanceProgress counts tasks by instance: which instances reached the
// goal, and the other tasks by state, as "2/3 running, 1 staging".
type instanceProgress struct {
	goal    string
	reached map[int]bool
	others  map[string]int
}

func newInstanceProgress(goal string) *instanceProgress {
	return &instanceProgress{goal: goal, reached: map[int]bool{}, others: map[string]int{}}
}

func (ip *instanceProgress) text(want int) string {
	parts := []string{fmt.Sprintf("%d/%d %s", len(ip.reached), want, ip.goal)}
	for _, s := range []string{"checking", "unhealthy", "stopping", api.TaskStaging, api.TaskStarting, api.TaskRunning, api.TaskKilling,
		api.TaskFailed, api.TaskLost, api.TaskError, api.TaskKilled} {
		if n := ip.others[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(shortState(s))))
		}
	}
	return strings.Join(parts, ", ")
}

// finishedProgress counts the tasks that keep takes by whether their
// instance finished, and returns them.
func finishedProgress(tasks []api.Task, keep func(api.Task) bool) ([]api.Task, *instanceProgress) {
	var kept []api.Task
	ip := newInstanceProgress("finished")
	for _, t := range tasks {
		if !keep(t) {
			continue
		}
		kept = append(kept, t)
		if t.State == api.TaskFinished {
			ip.reached[t.Instance] = true
		} else {
			ip.others[t.State]++
		}
	}
	return kept, ip
}

// withPending adds the pending reason, if any, to a progress line.
func withPending(line string, p *api.PendingReason) string {
	if t := pendingText(p); t != "" {
		return line + ", " + t
	}
	return line
}

// serviceProgress is the progress of a service towards its instance count:
// while a roll-out runs, how far it is ("version 4: 2/3 updated, 2
// healthy, 1 old"); then the instances of the current version that serve
// (running, and healthy where the job has health checks). It is done when
// no roll-out runs, every instance serves and no instance beyond the count
// (scaled away) still runs.
func serviceProgress(job api.Job, tasks []api.Task) (line string, done bool, err error) {
	if d := job.Deployment; d != nil {
		line = withPending(job.ID+": "+deploymentText(*d), job.Pending)
		err := jobEnded(job)
		return line, err != nil, err
	}
	checked := len(job.HealthChecks) > 0
	ip := newInstanceProgress("running")
	if checked {
		ip.goal = "healthy"
	}
	for _, t := range tasks {
		if t.JobVersion != 0 && t.JobVersion != job.Version {
			continue
		}
		switch {
		case api.TaskStateTerminal(t.State) && t.Instance >= job.Instances:
			// scaled away: nothing to wait for
		case t.Instance >= job.Instances || t.KillRequested:
			if !api.TaskStateTerminal(t.State) {
				ip.others["stopping"]++
			}
		case t.State != api.TaskRunning:
			ip.others[t.State]++
		case !checked || (t.Healthy != nil && *t.Healthy):
			ip.reached[t.Instance] = true
		case t.Healthy == nil:
			ip.others["checking"]++
		default:
			ip.others["unhealthy"]++
		}
	}
	line = withPending(job.ID+": "+ip.text(job.Instances), job.Pending)
	if err := jobEnded(job); err != nil {
		return line, true, err
	}
	return line, len(ip.reached) >= job.Instances && ip.others["stopping"] == 0, nil
}

// runProgress follows one run of a batch or cron job: its instances that
// finished, until the run ends. A failed run exits 1 with its message and
// the failed tasks; one skipped or superseded exits 1 too.
func runProgress(job api.Job, tasks []api.Task, number int) (line string, done bool, err error) {
	var r *api.Run
	for i := range job.Runs {
		if job.Runs[i].Number == number {
			r = &job.Runs[i]
		}
	}
	if r == nil {
		line = fmt.Sprintf("%s: run %d: no longer in the job's history", job.ID, number)
		return line, true, fmt.Errorf("run %d of job %s is no longer in its history (newer runs pushed it out); see 'clusterd job %s'", number, job.ID, job.ID)
	}
	ofRun, ip := finishedProgress(tasks, func(t api.Task) bool { return t.Run == number })
	line = withPending(fmt.Sprintf("%s: run %d: %s", job.ID, number, ip.text(job.Instances)), job.Pending)
	if err := jobEnded(job); err != nil {
		return line, true, err
	}
	switch r.State {
	case api.RunRunning:
		return line, false, nil
	case api.RunSucceeded:
		return line, true, nil
	case api.RunFailed:
		head := fmt.Sprintf("run %d of job %s failed", number, job.ID)
		if r.Message != "" {
			head += ": " + r.Message
		}
		return line, true, taskFailures(head, ofRun)
	}
	msg := ""
	if r.Message != "" {
		msg = ": " + r.Message
	}
	return line, true, fmt.Errorf("run %d of job %s was %s%s; see 'clusterd job %s'", number, job.ID, dash(r.State), msg, job.ID)
}

// batchProgress is the progress of a batch job as its state and tasks
// tell it, for a server that does not report runs. Only tasks of the job's
// current version count.
func batchProgress(job api.Job, tasks []api.Task) (line string, done bool, err error) {
	current, ip := finishedProgress(tasks, func(t api.Task) bool { return t.JobVersion == 0 || t.JobVersion == job.Version })
	line = withPending(job.ID+": "+ip.text(job.Instances), job.Pending)
	switch err := jobEnded(job); {
	case err != nil:
		return line, true, err
	case job.State == api.JobStateFailed:
		return line, true, taskFailures("job "+job.ID+" failed", current)
	case job.State == api.JobStateComplete:
		return line, true, nil
	}
	return line, len(ip.reached) >= job.Instances, nil
}

// taskFailures is head followed by the tasks that failed (at most 10) and
// how to read their output.
func taskFailures(head string, tasks []api.Task) error {
	var b strings.Builder
	b.WriteString(head)
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
	width int  // columns of the terminal; 0 when unknown
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w), width: terminalWidth(w)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	// A character device is not enough: /dev/null is one, and a command
	// run with its input from /dev/null must not wait for an answer.
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
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
	line := p.last
	if p.width > 2 {
		// A line that wraps could not be redrawn in place with \r.
		line = cutRunes(line, p.width-2)
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s", spinnerFrames[p.frame%len(spinnerFrames)], line)
	p.open = true
}

// finish leaves the last line on screen without the spinner.
func (p *progress) finish() {
	if p.open {
		fmt.Fprintf(p.w, "\r\033[K%s\n", p.last)
		p.open = false
	}
}
