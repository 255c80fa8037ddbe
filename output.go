package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/mesos"
)

// Widths ids are cut to in tables. Cut ids stay usable: commands that take
// a task id accept any unique prefix.
const (
	taskIDWidth = 24
	nodeIDWidth = 12
	reasonWidth = 60
)

// printJSON writes v as indented JSON; nil slices are written as [].
func printJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if string(data) == "null" {
		data = []byte("[]")
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// table is what the table writers print through: tab-separated cells,
// one row a line, aligned at Flush.
type table interface {
	io.Writer
	Flush() error
}

// newTable aligns tab-separated cells into columns. On a terminal, a table
// wider than the terminal is fitted to it (fitTable); elsewhere (a pipe, a
// file) rows are never cut, so scripts and grep see everything.
func newTable(w io.Writer) table {
	if width := terminalWidth(w); width > 0 {
		return &fitTable{w: w, width: width}
	}
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// sizedWriter is a writer that reports a terminal width: the tests' stand-in
// for a terminal of that many columns.
type sizedWriter struct {
	io.Writer
	cols int
}

// terminalWidth is how many columns the terminal w writes to has; 0 when w
// is not a terminal.
func terminalWidth(w io.Writer) int {
	switch w := w.(type) {
	case sizedWriter:
		return w.cols
	case *os.File:
		ws, err := unix.IoctlGetWinsize(int(w.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			return 0
		}
		return int(ws.Col)
	}
	return 0
}

// Columns are padded with this many spaces, as the tabwriter does.
const columnGap = 2

// minColumnWidth is as narrow as fitting makes a column: enough to
// recognise its start. Columns no wider than this (states, counts, ages)
// are never cut: a cut one would say nothing.
const minColumnWidth = 10

// fitTable lays out a table like the tabwriter, but when a row would be
// wider than the terminal it narrows the widest columns first, cutting
// their cells with "…", until the table fits or every column is at
// minColumnWidth (a table still too wide then wraps). The first column
// (the id or name to type in the next command) is never cut.
type fitTable struct {
	w     io.Writer
	width int
	buf   bytes.Buffer
}

func (t *fitTable) Write(p []byte) (int, error) { return t.buf.Write(p) }

func (t *fitTable) Flush() error {
	text := strings.TrimSuffix(t.buf.String(), "\n")
	t.buf.Reset()
	if text == "" {
		return nil
	}
	var rows [][]string
	var widths []int
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, "\t")
		for i, c := range cells {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
		rows = append(rows, cells)
	}
	total := func() int {
		n := 0
		for _, w := range widths {
			n += w
		}
		return n + columnGap*(len(widths)-1)
	}
	for total() > t.width {
		widest := -1
		for i := 1; i < len(widths); i++ {
			if widths[i] > minColumnWidth && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break // as narrow as it gets; the terminal wraps the rest
		}
		widths[widest]--
	}
	var b strings.Builder
	for _, cells := range rows {
		for i, c := range cells {
			if i > 0 {
				c = cutRunes(c, widths[i])
			}
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+columnGap))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

// cutRunes cuts s to n characters (not bytes), the last one an ellipsis.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// shorten cuts s to n characters. No ellipsis, so the result can be pasted
// back as a prefix.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// truncate cuts human text to n characters with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// num prints a resource amount without useless decimals: 4, 0.5, 1.25.
func num(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// mib prints an amount of MiB rounded to whole MiB.
func mib(f float64) string {
	return strconv.FormatFloat(math.Round(f), 'f', -1, 64)
}

// age prints a duration the way ps does: 42s, 5m, 3h, 2d.
func age(since, now time.Time) string {
	if since.IsZero() {
		return "-"
	}
	d := now.Sub(since)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// counts prints a map of counts sorted by key: "down=1 ready=3".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func shortState(s string) string { return strings.TrimPrefix(s, "TASK_") }

func writeStatus(w io.Writer, s api.Status) error {
	leader := dash(s.Leader)
	if s.LeaderAddr != "" {
		leader += " (" + s.LeaderAddr + ")"
	}
	tw := newTable(w)
	for _, kv := range [][2]string{
		{"Cluster", dash(s.ClusterID)},
		{"CA fingerprint", dash(s.CAFingerprint)},
		{"Version", dash(s.Version)},
		{"This node", fmt.Sprintf("%s (%s), raft %s, applied index %d", dash(s.NodeName), dash(s.NodeID), dash(s.RaftState), s.AppliedIndex)},
		{"Leader", leader},
		{"Voters", dash(strings.Join(s.Voters, ", "))},
		{"Nodes", counts(s.Nodes)},
		{"Jobs", strconv.Itoa(s.Jobs)},
		{"Tasks", counts(s.Tasks)},
		{"CPUs", num(s.Allocated.CPUs) + " / " + num(s.Capacity.CPUs) + " allocated"},
		{"Memory", mib(s.Allocated.Mem) + " / " + mib(s.Capacity.Mem) + " MiB allocated"},
		{"Disk", mib(s.Allocated.Disk) + " / " + mib(s.Capacity.Disk) + " MiB allocated"},
		{"GPUs", strconv.Itoa(s.Allocated.GPUs) + " / " + strconv.Itoa(s.Capacity.GPUs) + " allocated"},
		{"Uptime", (time.Duration(s.Uptime) * time.Second).String()},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

func writeNodes(w io.Writer, nodes []api.Node) error {
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tID\tSTATE\tCPUS\tMEM (MiB)\tTASKS\tADDRESS")
	for _, n := range nodes {
		state := dash(n.State)
		if n.Leader {
			state += " (leader)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s/%s\t%d\t%s\n",
			dash(n.Name), shorten(n.ID, nodeIDWidth), state,
			num(n.Allocated.CPUs), num(n.Total.CPUs), mib(n.Allocated.Mem), mib(n.Total.Mem),
			n.Tasks, dash(n.Address))
	}
	return tw.Flush()
}

// pendingText is the PENDING-REASON of a job: empty when all is placed.
// writeNotPlaced lists, under the tasks, the instances of jobs (of job
// only, when given) that have no task because they could not be placed.
func writeNotPlaced(w io.Writer, jobs []api.Job, job string) error {
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].ID < jobs[j].ID })
	var lines []string
	for _, j := range jobs {
		if p := pendingText(j.Pending); p != "" && (job == "" || j.ID == job) {
			lines = append(lines, fmt.Sprintf("  %s: %s", j.ID, p))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nnot placed:\n%s\n", strings.Join(lines, "\n"))
	return err
}

func pendingText(p *api.PendingReason) string {
	if p == nil || p.Instances == 0 {
		return ""
	}
	if p.Message != "" {
		return p.Message // the server's message says how many and why
	}
	msg := hostReasons(p.Hosts)
	prefix := fmt.Sprintf("%d waiting", p.Instances)
	if p.Unplaceable {
		prefix = fmt.Sprintf("%d unplaceable", p.Instances)
	}
	if msg == "" {
		return prefix
	}
	return prefix + ": " + msg
}

// hostReasons prints "insufficient cpus on 3 hosts, insufficient mem on 1
// host", most common first.
func hostReasons(hosts map[string]int) string {
	type rc struct {
		reason string
		n      int
	}
	var rs []rc
	for r, n := range hosts {
		rs = append(rs, rc{r, n})
	}
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].n != rs[j].n {
			return rs[i].n > rs[j].n
		}
		return rs[i].reason < rs[j].reason
	})
	parts := make([]string, len(rs))
	for i, r := range rs {
		hosts := "hosts"
		if r.n == 1 {
			hosts = "host"
		}
		parts[i] = fmt.Sprintf("%s on %d %s", r.reason, r.n, hosts)
	}
	return strings.Join(parts, ", ")
}

func writeJobs(w io.Writer, jobs []api.Job, now time.Time) error {
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].ID < jobs[j].ID })
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tTYPE\tINSTANCES\tSTATE\tRUNNING\tVERSION\tPENDING-REASON")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", j.ID, j.Type, j.Instances, jobStateText(j, now),
			j.Tasks[api.TaskRunning], j.Version, dash(truncate(pendingText(j.Pending), reasonWidth)))
	}
	return tw.Flush()
}

// jobStateText is the STATE cell of the jobs list: the state, how far a
// service's roll-out is ("deploying 2/3": updated of wanted), and when a
// cron job runs next ("scheduled, next in 5h").
func jobStateText(j api.Job, now time.Time) string {
	s := dash(j.State)
	if d := j.Deployment; d != nil && j.State == api.JobStateDeploying {
		s += fmt.Sprintf(" %d/%d", d.Updated, d.Instances)
	}
	if j.Type == api.JobCron && !j.NextRun.IsZero() {
		s += ", next in " + age(now, j.NextRun)
	}
	return s
}

// detailRows is how many of a job's latest deployments or runs `clusterd
// job` lists.
const detailRows = 5

func writeJob(w io.Writer, j api.Job, tasks []api.Task, now time.Time) error {
	tw := newTable(w)
	for _, r := range jobRows(j, now) {
		if r[0] == "" {
			fmt.Fprintf(tw, "\t%s\n", r[1]) // a further line of the row above
			continue
		}
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(j.Deployments) > 0 {
		fmt.Fprintln(w)
		if err := writeDeployments(w, j.Deployments, now); err != nil {
			return err
		}
	}
	if len(j.Runs) > 0 {
		fmt.Fprintln(w)
		if err := writeRuns(w, j.Runs, now); err != nil {
			return err
		}
	}
	if len(tasks) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	return writeTasks(w, tasks, now, false)
}

// jobRows are the label: value rows of `clusterd job`; a row without a
// label continues the one above.
func jobRows(j api.Job, now time.Time) [][2]string {
	res := fmt.Sprintf("cpus=%s mem=%s MiB", num(j.CPUs), num(j.Mem))
	if j.Disk > 0 {
		res += fmt.Sprintf(" disk=%s MiB", num(j.Disk))
	}
	if j.GPUs > 0 {
		res += fmt.Sprintf(" gpus=%d", j.GPUs)
	}
	if j.Ports > 0 {
		res += fmt.Sprintf(" ports=%d", j.Ports)
	}
	rows := [][2]string{
		{"ID", j.ID},
		{"Type", j.Type},
		{"State", dash(j.State)},
		{"Version", strconv.FormatUint(j.Version, 10)},
	}
	if j.Cmd != "" || len(j.Args) == 0 {
		rows = append(rows, [2]string{"Command", j.Cmd})
	}
	if len(j.Args) > 0 {
		rows = append(rows, [2]string{"Args", argvText(j.Args) + " (exec'd without a shell)"})
	}
	rows = append(rows,
		[2]string{"Instances", strconv.Itoa(j.Instances)},
		[2]string{"Resources", res + " (each)"},
		[2]string{"Role", dash(j.Role)},
	)
	if j.Priority != 0 {
		rows = append(rows, [2]string{"Priority", strconv.Itoa(j.Priority)})
	}
	if len(j.Constraints) > 0 {
		rows = append(rows, [2]string{"Constraints", constraintsText(j.Constraints)})
	}
	if j.Type == api.JobService {
		rows = append(rows, serviceRows(j.JobSpec)...)
	} else {
		rows = append(rows, runRows(j, now)...)
	}
	if len(j.Env) > 0 {
		keys := make([]string, 0, len(j.Env))
		for k := range j.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		rows = append(rows, [2]string{"Env", strings.Join(keys, ", ")})
	}
	rows = append(rows,
		[2]string{"Tasks", counts(j.Tasks)},
		[2]string{"Created", ageAgo(j.CreatedAt, now)},
		[2]string{"Updated", ageAgo(j.UpdatedAt, now)},
	)
	if d := j.Deployment; d != nil {
		rows = append(rows, [2]string{"Deployment", deploymentText(*d) + ", started " + age(d.StartedAt, now) + " ago"})
	}
	if p := pendingText(j.Pending); p != "" {
		rows = append(rows, [2]string{"Pending", p})
		if j.Pending.Message != "" && len(j.Pending.Hosts) > 0 {
			rows = append(rows, [2]string{"Rejected hosts", hostReasons(j.Pending.Hosts)})
		}
	}
	return rows
}

// serviceRows are a service's health checks (one row each), upgrade
// strategy and restart backoff.
func serviceRows(s api.JobSpec) [][2]string {
	var rows [][2]string
	for i, hc := range s.HealthChecks {
		label := ""
		if i == 0 {
			label = "Health checks"
		}
		rows = append(rows, [2]string{label, healthCheckText(hc)})
	}
	if u := upgradeText(s.UpgradeStrategy); u != "" {
		rows = append(rows, [2]string{"Upgrade strategy", u})
	}
	if b := backoffText(s); b != "" {
		rows = append(rows, [2]string{"Restart backoff", b})
	}
	return rows
}

// runRows are how a batch or cron job runs: retries, completion limit, a
// cron job's schedule and next run, a dependent job's parents.
func runRows(j api.Job, now time.Time) [][2]string {
	var rows [][2]string
	if j.Retries != nil {
		rows = append(rows, [2]string{"Retries", strconv.Itoa(*j.Retries)})
	}
	if j.MaxCompletionSeconds > 0 {
		rows = append(rows, [2]string{"Max completion", secondsText(j.MaxCompletionSeconds) + " per task (then it is killed and fails)"})
	}
	if j.Type == api.JobCron {
		rows = append(rows,
			[2]string{"Schedule", j.Schedule + " (" + dash(j.TimeZone) + ")"},
			[2]string{"Concurrency", concurrencyText(j.ConcurrencyPolicy)},
			[2]string{"Next run", nextRunText(j.NextRun, j.TimeZone, now)},
		)
	}
	if len(j.Parents) > 0 {
		rows = append(rows, [2]string{"Parents", strings.Join(j.Parents, ", ") + " (runs when the latest run of each succeeded)"})
	}
	return rows
}

// writeDeployments prints a service's latest roll-outs, newest first.
func writeDeployments(w io.Writer, ds []api.DeploymentRecord, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "DEPLOYED VERSION\tSTATE\tSTARTED\tTOOK")
	for i := len(ds) - 1; i >= 0 && i >= len(ds)-detailRows; i-- {
		d := ds[i]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", d.Version, dash(d.State), agoText(d.StartedAt, now), took(d.StartedAt, d.FinishedAt))
	}
	return tw.Flush()
}

// writeRuns prints a batch or cron job's latest runs, newest first.
func writeRuns(w io.Writer, runs []api.Run, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "RUN\tTRIGGER\tSTATE\tSTARTED\tTOOK\tMESSAGE")
	for i := len(runs) - 1; i >= 0 && i >= len(runs)-detailRows; i-- {
		r := runs[i]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Number, dash(r.Trigger), dash(r.State), agoText(r.StartedAt, now),
			took(r.StartedAt, r.FinishedAt), dash(truncate(r.Message, reasonWidth)))
	}
	return tw.Flush()
}

// agoText is "5m ago", or "-" for no time.
func agoText(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return age(t, now) + " ago"
}

// took is how long something that ended took; "-" while it goes on.
func took(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return "-"
	}
	return age(start, end)
}

// deploymentText is a roll-out's progress: "version 4: 2/3 updated, 2
// healthy, 1 old".
func deploymentText(d api.Deployment) string {
	return fmt.Sprintf("version %d: %d/%d updated, %d healthy, %d old", d.Version, d.Updated, d.Instances, d.Healthy, d.Old)
}

// constraintsText prints constraints the way Marathon writes them:
// "hostname UNIQUE, zone GROUP_BY 3 (soft)".
func constraintsText(cs []api.Constraint) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		s := c.Field + " " + strings.ToUpper(c.Operator)
		if c.Value != "" {
			s += " " + c.Value
		}
		if c.Soft {
			s += " (soft)"
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}

// healthCheckText prints a health check: "HTTP :PORT0/health every 10s,
// timeout 5s, grace 30s, 3 failures in a row". Settings the server did not
// report are left out.
func healthCheckText(hc api.HealthCheck) string {
	var what string
	switch p := strings.ToUpper(hc.Protocol); p {
	case "COMMAND":
		what = "COMMAND " + strconv.Quote(hc.Command)
	case "TCP":
		what = fmt.Sprintf("TCP :PORT%d", hc.PortIndex)
	default:
		what = fmt.Sprintf("%s :PORT%d%s", p, hc.PortIndex, hc.Path)
	}
	var parts []string
	if v := hc.IntervalSeconds; v != nil {
		parts = append(parts, "every "+secondsText(*v))
	}
	if v := hc.TimeoutSeconds; v != nil {
		parts = append(parts, "timeout "+secondsText(*v))
	}
	if v := hc.GracePeriodSeconds; v != nil {
		parts = append(parts, "grace "+secondsText(*v))
	}
	switch v := hc.MaxConsecutiveFailures; {
	case v == nil:
	case *v == 0:
		parts = append(parts, "never unhealthy")
	case *v == 1:
		parts = append(parts, "unhealthy after 1 failure")
	default:
		parts = append(parts, fmt.Sprintf("%d failures in a row", *v))
	}
	if len(parts) == 0 {
		return what
	}
	return what + " " + strings.Join(parts, ", ")
}

// upgradeText prints a service's upgrade strategy as fractions of its
// instances: "min health capacity 100%, max over capacity 20%".
func upgradeText(u *api.UpgradeStrategy) string {
	if u == nil {
		return ""
	}
	var parts []string
	if v := u.MinimumHealthCapacity; v != nil {
		parts = append(parts, "min health capacity "+percent(*v))
	}
	if v := u.MaximumOverCapacity; v != nil {
		parts = append(parts, "max over capacity "+percent(*v))
	}
	return strings.Join(parts, ", ")
}

// backoffText prints a service's restart backoff: "1s, 1.15x per
// failure, at most 5m".
func backoffText(s api.JobSpec) string {
	var parts []string
	if v := s.BackoffSeconds; v != nil {
		parts = append(parts, secondsText(*v))
	}
	if v := s.BackoffFactor; v != nil {
		parts = append(parts, num(*v)+"x per failure")
	}
	if v := s.MaxLaunchDelaySeconds; v != nil {
		parts = append(parts, "at most "+secondsText(*v))
	}
	return strings.Join(parts, ", ")
}

// concurrencyText says what a cron job's concurrency policy does.
func concurrencyText(policy string) string {
	switch policy {
	case "forbid":
		return "forbid (a run due while one runs is skipped)"
	case "allow":
		return "allow (runs may overlap)"
	case "replace":
		return "replace (a run due while one runs replaces it)"
	}
	return dash(policy)
}

// nextRunText is when a cron job runs next, in its own time zone, and how
// long until then.
func nextRunText(next time.Time, zone string, now time.Time) string {
	if next.IsZero() {
		return "none: the schedule has no more runs"
	}
	return zonedTime(next, zone) + " (in " + age(now, next) + ")"
}

// zonedTime prints a cron job's time in the job's time zone, the zone its
// schedule is written in.
func zonedTime(t time.Time, zone string) string {
	if loc, err := time.LoadLocation(zone); err == nil && zone != "" {
		t = t.In(loc)
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

// secondsText prints a number of seconds as the shortest exact
// duration: 1.5s, 90s, 5m, 2h.
func secondsText(s float64) string {
	switch {
	case s >= 3600 && math.Mod(s, 3600) == 0:
		return num(s/3600) + "h"
	case s >= 60 && math.Mod(s, 60) == 0:
		return num(s/60) + "m"
	}
	return num(s) + "s"
}

// percent prints a fraction as a percentage: 0.9 is 90%.
func percent(f float64) string {
	return num(math.Round(f*1000)/10) + "%"
}

// plainArg matches arguments that read the same without quotes.
var plainArg = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// argvText prints an argv with arguments quoted where a space or a special
// character would make them ambiguous.
func argvText(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = a
		if !plainArg.MatchString(a) {
			parts[i] = strconv.Quote(a)
		}
	}
	return strings.Join(parts, " ")
}

// healthText is a task's HEALTH cell: what its checks last found, "-"
// without checks or before their first result.
func healthText(healthy *bool) string {
	switch {
	case healthy == nil:
		return "-"
	case *healthy:
		return "healthy"
	}
	return "unhealthy"
}

func ageAgo(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	// In now's zone: the local one on a real run, a fixed one in tests.
	return t.In(now.Location()).Format(time.DateTime) + " (" + age(t, now) + " ago)"
}

// writeTasks prints the ps table, newest first.
func writeTasks(w io.Writer, tasks []api.Task, now time.Time, noTrunc bool) error {
	sort.SliceStable(tasks, func(i, j int) bool {
		if !tasks[i].CreatedAt.Equal(tasks[j].CreatedAt) {
			return tasks[i].CreatedAt.After(tasks[j].CreatedAt)
		}
		return tasks[i].ID < tasks[j].ID
	})
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tJOB\tNODE\tSTATE\tHEALTH\tEXIT\tCPU (used/alloc)\tMEM MiB (used/alloc)\tAGE")
	for _, t := range tasks {
		id, nodeName := t.ID, t.NodeName
		if nodeName == "" {
			nodeName = t.Node
			if !noTrunc {
				nodeName = shorten(nodeName, nodeIDWidth)
			}
		}
		if !noTrunc {
			id = shorten(id, taskIDWidth)
		}
		exit := "-"
		if t.ExitCode != nil {
			exit = strconv.Itoa(*t.ExitCode)
		}
		cpu, mem := "-", "-"
		if t.Used != nil {
			cpu = fmt.Sprintf("%.2f/%g", t.Used.CPUs, t.Resources.CPUs)
			mem = fmt.Sprintf("%.0f/%g", t.Used.Mem, t.Resources.Mem)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, dash(t.Job), dash(nodeName), shortState(t.State), healthText(t.Healthy),
			exit, cpu, mem, age(t.CreatedAt, now))
	}
	return tw.Flush()
}

// cliHint returns "clusterd" plus --addr when the address is not the default.
func cliHint(httpURL string) string {
	if strings.TrimRight(httpURL, "/") == defaultAddr || httpURL == "" {
		return "clusterd"
	}
	return "clusterd --addr " + httpURL
}

const exampleJob = `{"id":"hello","type":"batch","cmd":"echo hello from clusterd","instances":1,"cpus":0.1,"mem":32}`

func printDevBanner(w io.Writer, httpURL, dataDir string) {
	cmd := cliHint(httpURL)
	fmt.Fprintf(w, `
clusterd is running as a one-node dev cluster (data in %s, removed on exit).

  Dashboard and API:  %s

Try it from another terminal:

  echo '%s' | %s run --wait -
  %s ps
  %s logs hello

Press Ctrl-C to stop.

`, dataDir, httpURL, exampleJob, cmd, cmd, cmd)
}

// initBanner is what a starting node prints (from node.ReadyInfo).
type initBanner struct {
	HTTPURL, ClusterID, NodeID      string
	Bootstrapped                    bool
	AdminToken                      string
	ServerJoinToken, AgentJoinToken string
	CAFingerprint                   string
}

func printInitBanner(w io.Writer, info initBanner, dataDir string) {
	if info.Bootstrapped {
		fmt.Fprintf(w, "Created cluster %s; this node (%s) is its first member.\n", info.ClusterID, info.NodeID)
		if info.AdminToken != "" {
			fmt.Fprintf(w, "\nAdmin token (shown once; root on this machine also finds it in %s):\n\n  %s\n\n"+
				"Use it with --token, CLUSTERD_TOKEN or 'clusterd login', and make tokens of less scope with\n'clusterd token create --scope read|write'.\n\n",
				adminTokenPath(dataDir), info.AdminToken)
		}
		if info.ServerJoinToken != "" {
			fmt.Fprintf(w, "Join other machines (the tokens are also in %s; 'clusterd token rotate server|agent' replaces one):\n\n"+
				"  clusterd join --token %s %s                   # a server (may vote)\n"+
				"  clusterd join --server=false --token %s %s    # an agent only\n\n",
				joinTokensPath(dataDir), info.ServerJoinToken, joinHint(info.HTTPURL), info.AgentJoinToken, joinHint(info.HTTPURL))
		}
	} else {
		fmt.Fprintf(w, "Resumed cluster %s from the data dir; this node is %s (no new cluster was created).\n", info.ClusterID, info.NodeID)
	}
	if info.CAFingerprint != "" {
		fmt.Fprintf(w, "Cluster CA fingerprint (SHA-256): %s\n", info.CAFingerprint)
	}
	fmt.Fprintf(w, "Dashboard and API: %s\nCheck it with: %s status\n", info.HTTPURL, cliHint(info.HTTPURL))
}

// joinHint is the host other machines join through: this node's address.
func joinHint(httpURL string) string {
	u, err := url.Parse(httpURL)
	if err != nil || u.Hostname() == "" {
		return "PEER"
	}
	return u.Hostname()
}

// frameworkIDWidth fits clusterd's framework ids (a 16-digit cluster id, a
// dash and 8 digits); longer ones, which frameworks may choose, are cut.
const frameworkIDWidth = 26

// sumResources adds up a resource list's scalars by kind, whatever their
// reservation or allocation role.
func sumResources(rs []mesos.Resource) mesos.Amounts {
	var a mesos.Amounts
	for _, r := range rs {
		if r.Scalar == nil {
			continue
		}
		switch v := r.Scalar.Value; r.Name {
		case mesos.ResourceCPUs:
			a.CPUs += v
		case mesos.ResourceMem:
			a.Mem += v
		case mesos.ResourceDisk:
			a.Disk += v
		case mesos.ResourceGPUs:
			a.GPUs += int(math.Round(v))
		}
	}
	round := func(f float64) float64 { return math.Round(f*1000) / 1000 }
	a.CPUs, a.Mem, a.Disk = round(a.CPUs), round(a.Mem), round(a.Disk)
	return a
}

// amountText prints an amount of a kind: cpus and gpus as they are, mem
// and disk in whole MiB.
func amountText(kind string, v float64) string {
	if kind == mesos.ResourceMem || kind == mesos.ResourceDisk {
		return mib(v)
	}
	return num(v)
}

// resourcesText prints a resource list's scalars: "cpus 0.5 mem 128",
// kinds with nothing left out; "-" for nothing.
func resourcesText(rs []mesos.Resource) string {
	a := sumResources(rs)
	var parts []string
	for _, k := range []struct {
		kind string
		v    float64
	}{{mesos.ResourceCPUs, a.CPUs}, {mesos.ResourceMem, a.Mem}, {mesos.ResourceDisk, a.Disk}, {mesos.ResourceGPUs, float64(a.GPUs)}} {
		if k.v != 0 {
			parts = append(parts, k.kind+" "+amountText(k.kind, k.v))
		}
	}
	return dash(strings.Join(parts, " "))
}

// quotaCell is consumed/limit of one kind of a quota, "-" without a limit.
func quotaCell(q *mesos.RoleQuota, kind string) string {
	if q == nil {
		return "-"
	}
	l, ok := q.Limits[kind]
	if !ok {
		return "-"
	}
	return amountText(kind, q.Consumed[kind].Value) + "/" + amountText(kind, l.Value)
}

// quotaText prints a quota as consumed/limit by kind: "cpus 1.5/4 mem
// 512/8192"; "-" for no quota.
func quotaText(q *mesos.RoleQuota) string {
	if q == nil {
		return "-"
	}
	var parts []string
	for _, kind := range quotaKinds {
		if _, ok := q.Limits[kind]; ok {
			parts = append(parts, kind+" "+quotaCell(q, kind))
		}
	}
	return dash(strings.Join(parts, " "))
}

// limitsText prints quota limits as they are written: "cpus=4,mem=8192".
func limitsText(limits map[string]mesos.Scalar) string {
	var parts []string
	for _, kind := range quotaKinds {
		if l, ok := limits[kind]; ok {
			parts = append(parts, kind+"="+num(l.Value))
		}
	}
	return strings.Join(parts, ",")
}

// frameworksText is a role's FRAMEWORKS cell: the id of its only
// framework, or how many it has.
func frameworksText(ids []mesos.FrameworkID) string {
	switch len(ids) {
	case 0:
		return "-"
	case 1:
		return shorten(ids[0].Value, frameworkIDWidth)
	}
	return fmt.Sprintf("%d frameworks", len(ids))
}

func writeRoles(w io.Writer, roles []mesos.Role) error {
	sort.Slice(roles, func(i, j int) bool { return roles[i].Name < roles[j].Name })
	tw := newTable(w)
	fmt.Fprintln(tw, "ROLE\tWEIGHT\tFRAMEWORKS\tALLOCATED\tOFFERED\tRESERVED\tQUOTA (used/limit)")
	for _, r := range roles {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, num(r.Weight), frameworksText(r.Frameworks),
			resourcesText(r.Allocated), resourcesText(r.Offered), resourcesText(r.Reserved), quotaText(r.Quota))
	}
	return tw.Flush()
}

func writeWeights(w io.Writer, weights []mesos.WeightInfo) error {
	sort.Slice(weights, func(i, j int) bool { return weights[i].Role < weights[j].Role })
	tw := newTable(w)
	fmt.Fprintln(tw, "ROLE\tWEIGHT")
	for _, wi := range weights {
		fmt.Fprintf(tw, "%s\t%s\n", wi.Role, num(wi.Weight))
	}
	return tw.Flush()
}

// writeQuotas prints each role's quota as used/limit by kind.
func writeQuotas(w io.Writer, quotas []mesos.RoleQuota) error {
	sort.Slice(quotas, func(i, j int) bool { return quotas[i].Role < quotas[j].Role })
	tw := newTable(w)
	fmt.Fprintln(tw, "ROLE\tCPUS (used/limit)\tMEM MiB\tDISK MiB\tGPUS")
	for i := range quotas {
		q := &quotas[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", q.Role, quotaCell(q, mesos.ResourceCPUs), quotaCell(q, mesos.ResourceMem),
			quotaCell(q, mesos.ResourceDisk), quotaCell(q, mesos.ResourceGPUs))
	}
	return tw.Flush()
}

func timeOf(ti *mesos.TimeInfo) time.Time {
	if ti == nil {
		return time.Time{}
	}
	return time.Unix(0, int64(ti.Nanoseconds))
}

// writeFrameworks prints the frameworks, then the removed ones, each
// sorted by id; tasks counts active tasks by framework id.
func writeFrameworks(w io.Writer, fws *mesos.GetFrameworksResponse, tasks map[string]int, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tNAME\tROLES\tSTATE\tTASKS\tALLOCATED\tOFFERS\tREGISTERED")
	row := func(f mesos.OperatorFramework, removed bool) {
		fi, id := f.FrameworkInfo, frameworkID(f)
		roles := fi.Roles
		if len(roles) == 0 && fi.Role != nil {
			roles = []string{*fi.Role}
		}
		if len(roles) == 0 {
			roles = []string{"*"}
		}
		state := "disconnected"
		switch {
		case removed:
			state = "removed"
		case f.Connected:
			state = "connected"
		}
		registered := age(timeOf(f.RegisteredTime), now)
		if registered != "-" {
			registered += " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", dash(shorten(id, frameworkIDWidth)), dash(truncate(fi.Name, 24)),
			truncate(strings.Join(roles, ","), 30), state, tasks[id], resourcesText(f.AllocatedResources), len(f.Offers), registered)
	}
	for _, list := range []struct {
		fws     []mesos.OperatorFramework
		removed bool
	}{{fws.Frameworks, false}, {fws.CompletedFrameworks, true}} {
		sorted := append([]mesos.OperatorFramework(nil), list.fws...)
		sort.SliceStable(sorted, func(i, j int) bool { return frameworkID(sorted[i]) < frameworkID(sorted[j]) })
		for _, f := range sorted {
			row(f, list.removed)
		}
	}
	return tw.Flush()
}

// outcome is what a command that changes something prints with -o json:
// what it did (action) and to what, so a script need not parse the
// sentence the table output prints.
type outcome struct {
	Action      string                  `json:"action"` // e.g. "kill_task", "delete_job", "drain"
	Job         string                  `json:"job,omitempty"`
	Task        string                  `json:"task,omitempty"`
	Node        string                  `json:"node,omitempty"` // id
	NodeName    string                  `json:"node_name,omitempty"`
	Framework   string                  `json:"framework,omitempty"`
	Token       string                  `json:"token,omitempty"` // an API token's id
	Role        string                  `json:"role,omitempty"`
	State       string                  `json:"state,omitempty"` // where it stands now: "draining", "drained", "leaving", "left"
	ActiveTasks *int                    `json:"active_tasks,omitempty"`
	Weights     []mesos.WeightInfo      `json:"weights,omitempty"`
	Quota       map[string]mesos.Scalar `json:"quota,omitempty"`
}

func intPtr(n int) *int { return &n }

// say prints o with -o json, the sentence otherwise.
func (env *clientEnv) say(o outcome, format string, args ...any) error {
	if env.json {
		return printJSON(env.stdout, o)
	}
	_, err := fmt.Fprintf(env.stdout, format+"\n", args...)
	return err
}
