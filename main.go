// Command clusterd is the single binary of a clusterd cluster: `agent` and
// `init` run a node; the other sub-commands are a client of the /v1 API.
//
// This package only parses flags and prints; the node package does the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
	// Cron jobs name IANA time zones: the binary carries the zone
	// database, so a minimal machine without /usr/share/zoneinfo runs them.
	_ "time/tzdata"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/web/client"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = "dev"

const defaultAddr = "http://127.0.0.1:5050"

// Exit codes, the same for every command; exitCodesHelp documents them in
// 'clusterd help' and docs/OPERATIONS.md repeats them.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2   // bad flags or arguments; also a job that can never be placed
	exitTimeout   = 3   // a --wait ran out of --timeout; what it waited for keeps going
	exitInterrupt = 130 // a --wait stopped by Ctrl-C, as a shell reports SIGINT
)

const exitCodesHelp = `Exit codes:
   0    done (with --wait: what was waited for happened)
   1    error: the server refused, a run failed, a node went away while waiting
   2    usage error (bad flags or arguments), or a job that no node can ever fit
   3    --wait timed out (--timeout); the operation keeps going on the cluster
   130  --wait interrupted (Ctrl-C); the operation keeps going on the cluster

Shell completion: see 'clusterd completion --help'.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns the process exit code. Errors are printed
// here, once, to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runApp(ctx, newApp(stdout, stderr), args, stderr)
}

func runApp(ctx context.Context, app *cli.App, args []string, stderr io.Writer) int {
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	var ce *codeError
	switch {
	case errors.As(err, &ce):
		if ce.err != nil {
			fmt.Fprintln(stderr, "clusterd:", ce.err)
		}
		return ce.code
	case errors.Is(err, context.Canceled):
		return exitOK // interrupted by the user while following or waiting
	}
	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "clusterd:", unreachableText(ue))
		return exitError
	}
	fmt.Fprintln(stderr, "clusterd:", err)
	return exitError
}

// codeError is an error with a specific exit code. A nil err means the
// message was already printed.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *codeError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "clusterd",
		Usage:                "run a cluster of machines as one pool of resources",
		Description:          exitCodesHelp,
		Version:              version,
		HideVersion:          true, // `clusterd version` instead
		EnableBashCompletion: true,
		Writer:               stdout,
		ErrWriter:            stderr,
		Flags:                clientFlags(true),
		ExitErrHandler:       func(*cli.Context, error) {}, // run() prints and exits
		OnUsageError:         onUsageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("unknown command %q; see 'clusterd help'", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			agentCommand(),
			initCommand(),
			joinCommand(),
			leaveCommand(),
			loginCommand(),
			logoutCommand(),
			tokenCommand(),
			gossipCommand(),
			autoscaleCommand(),
			statusCommand(),
			nodesCommand(),
			jobsCommand(),
			jobCommand(),
			psCommand(),
			runCommand(),
			scaleCommand(),
			startCommand(),
			killCommand(),
			logsCommand(),
			rolesCommand(),
			weightsCommand(),
			quotaCommand(),
			frameworksCommand(),
			drainCommand(),
			deactivateCommand(),
			reactivateCommand(),
			snapshotCommand(),
			recoverCommand(),
			versionCommand(),
			completionCommand(),
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	return app
}

func onUsageError(_ *cli.Context, err error, _ bool) error {
	return usageErrorf("%v; see --help", err)
}

// clientFlags are --addr and --output. The global ones carry the defaults and
// the environment variables; a sub-command's own copy, when given, wins
// (see lookupString).
func clientFlags(global bool) []cli.Flag {
	addr := &cli.StringFlag{
		Name:  "addr",
		Usage: "HTTP address of any clusterd node (followers redirect to the leader)",
	}
	token := &cli.StringFlag{
		Name:  "token",
		Usage: "API token (cdk1-...); default: the one 'clusterd login' saved, or, as root on a server, its admin.token",
	}
	caFile := &cli.StringFlag{
		Name:  "ca-file",
		Usage: "the cluster CA (PEM) an https:// --addr is checked against; default: the one 'clusterd login' saved, or, on a server, DATA/tls/ca.crt",
	}
	output := &cli.StringFlag{
		Name:    "output",
		Aliases: []string{"o"},
		Usage:   "output format: table or json",
	}
	if global {
		addr.Value, addr.EnvVars = defaultAddr, []string{"CLUSTERD_ADDR"}
		token.EnvVars = []string{"CLUSTERD_TOKEN"}
		caFile.EnvVars = []string{"CLUSTERD_CA_FILE"}
		output.Value, output.EnvVars = "table", []string{"CLUSTERD_OUTPUT"}
	} else {
		addr.DefaultText = "global --addr, $CLUSTERD_ADDR or " + defaultAddr
		output.DefaultText = "global --output, $CLUSTERD_OUTPUT or table"
	}
	return []cli.Flag{addr, token, caFile, output}
}

// lookupString returns the first non-empty value of a flag from the
// sub-command up to the app.
func lookupString(c *cli.Context, name string) string {
	for _, cc := range c.Lineage() {
		if cc == nil {
			continue
		}
		if v := cc.String(name); v != "" {
			return v
		}
	}
	return ""
}

// clockKey is the app's Metadata entry that, when set, is the clock tables
// measure ages against (a func() time.Time): golden tests fix it; a real run
// leaves it unset and uses the wall clock.
const clockKey = "clock"

// nowOf is the time a command's tables are printed at.
func nowOf(c *cli.Context) time.Time {
	if clock, ok := c.App.Metadata[clockKey].(func() time.Time); ok {
		return clock()
	}
	return time.Now()
}

// clientEnv is what every client command needs.
type clientEnv struct {
	c      *client.Client
	token  string // what c sends; clients of other nodes send it too
	ca     []byte // the cluster CA c trusts, for clients of other nodes too
	json   bool
	stdout io.Writer
	stderr io.Writer
}

func newClientEnv(c *cli.Context) (*clientEnv, error) {
	addr, token, ca, err := clientCredentials(c)
	if err != nil {
		return nil, err
	}
	cl, err := client.New(addr).WithCA(ca)
	if err != nil {
		return nil, err
	}
	env := &clientEnv{c: cl.WithToken(token), token: token, ca: ca, stdout: c.App.Writer, stderr: c.App.ErrWriter}
	switch out := lookupString(c, "output"); out {
	case "", "table":
	case "json":
		env.json = true
	default:
		return nil, usageErrorf("--output %q: must be table or json", out)
	}
	return env, nil
}

// clientAction wraps a client command: it checks the argument count and
// builds the client.
func clientAction(nargs int, argsUsage string, fn func(c *cli.Context, env *clientEnv) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() != nargs {
			if nargs == 0 {
				return usageErrorf("%s takes no arguments, got %q", c.Command.Name, c.Args().Slice())
			}
			return usageErrorf("usage: %s %s", c.Command.HelpName, argsUsage)
		}
		env, err := newClientEnv(c)
		if err != nil {
			return err
		}
		return fn(c, env)
	}
}

// unreachableText says why the server could not be reached (the dial's own
// reason: connection refused, no such host) and what to do about it.
func unreachableText(ue *client.UnreachableError) string {
	why := "no answer"
	var errno syscall.Errno
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(ue.Err, &errno):
		why = errno.Error()
	case errors.As(ue.Err, &dnsErr):
		why = "no such host " + dnsErr.Name
		if !dnsErr.IsNotFound {
			why = dnsErr.Error()
		}
	case errors.As(ue.Err, &opErr) && opErr.Err != nil:
		why = opErr.Err.Error()
	case ue.Err != nil:
		why = ue.Err.Error()
	}
	return fmt.Sprintf("cannot reach clusterd at %s: %s; is it running? Start one with 'clusterd agent --dev', "+
		"or point --addr (or CLUSTERD_ADDR) at a node of the cluster", ue.Addr, why)
}

// versionInfo is `clusterd version -o json`.
type versionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of this binary",
		// Only --output: the version is this binary's, no server is asked.
		Flags: clientFlags(false)[1:],
		Action: func(c *cli.Context) error {
			if _, err := checkArgs(c, 0, 0, "clusterd version [-o json]"); err != nil {
				return err
			}
			env, err := newClientEnv(c)
			if err != nil {
				return err
			}
			if env.json {
				return printJSON(env.stdout, versionInfo{Version: version, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH})
			}
			fmt.Fprintln(env.stdout, "clusterd", version)
			return nil
		},
	}
}
