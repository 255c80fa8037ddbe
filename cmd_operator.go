package main

// The operator commands: roles, weights, quota and frameworks, and taking
// nodes out of service (drain, deactivate, reactivate). They speak the
// Mesos v1 operator API (POST /api/v1) through client.Operator; nodes are
// named through the native /v1/nodes.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/node/jobs"
	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
	"github.com/clusterd/clusterd/web/mesos"
)

// operatorCall sends one operator call. A server without the operator API
// (404) gets an error that says so; other errors are the server's message.
func operatorCall(ctx context.Context, env *clientEnv, call *mesos.OperatorCall) (*mesos.OperatorResponse, error) {
	resp, err := env.c.Operator(ctx, call)
	if client.IsNotFound(err) {
		return nil, fmt.Errorf("%s does not serve the Mesos operator API (POST /api/v1): is it an older clusterd? (see 'clusterd status')", env.c.Addr())
	}
	return resp, err
}

// operatorRead sends a read call and checks that its answer came with a body.
func operatorRead(ctx context.Context, env *clientEnv, typ string) (*mesos.OperatorResponse, error) {
	resp, err := operatorCall(ctx, env, &mesos.OperatorCall{Type: typ})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, fmt.Errorf("%s: the server answered without a body", typ)
	}
	return resp, nil
}

func getRoles(ctx context.Context, env *clientEnv) ([]mesos.Role, error) {
	resp, err := operatorRead(ctx, env, mesos.OperatorGetRoles)
	if err != nil || resp.GetRoles == nil {
		return nil, err
	}
	return resp.GetRoles.Roles, nil
}

// checkArgs checks the number of arguments (max < 0: no limit) and refuses
// flags written after them: flags are read only before the first argument,
// so the error shows the line to type instead.
func checkArgs(c *cli.Context, min, max int, usage string) ([]string, error) {
	args := c.Args().Slice()
	var flags, rest []string
	for _, a := range args {
		if len(a) > 1 && strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else {
			rest = append(rest, a)
		}
	}
	if len(flags) > 0 {
		return nil, usageErrorf("flags go before the arguments: %s %s %s", c.Command.HelpName, strings.Join(flags, " "), strings.Join(rest, " "))
	}
	if max == 0 && len(args) > 0 {
		return nil, usageErrorf("%s takes no arguments, got %q", c.Command.HelpName, args)
	}
	if len(args) < min || (max >= 0 && len(args) > max) {
		return nil, usageErrorf("usage: %s; see --help", usage)
	}
	return args, nil
}

// operatorAction wraps the action of an operator command: it checks the
// arguments and builds the client.
func operatorAction(min, max int, usage string, fn func(c *cli.Context, env *clientEnv, args []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		args, err := checkArgs(c, min, max, usage)
		if err != nil {
			return err
		}
		env, err := newClientEnv(c)
		if err != nil {
			return err
		}
		return fn(c, env, args)
	}
}

// listAction is the action of a command that lists something and has
// sub-commands: an argument is a sub-command that does not exist.
func listAction(fn func(c *cli.Context, env *clientEnv) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			return usageErrorf("unknown command '%s %s'; see '%s --help'", c.Command.HelpName, c.Args().First(), c.Command.HelpName)
		}
		return operatorAction(0, 0, c.Command.HelpName, func(c *cli.Context, env *clientEnv, _ []string) error {
			return fn(c, env)
		})(c)
	}
}

func subcommand(cmd *cli.Command) *cli.Command {
	cmd.OnUsageError = onUsageError
	return cmd
}

// ---- roles ----

func rolesCommand() *cli.Command {
	return &cli.Command{
		Name:  "roles",
		Usage: "list roles: weight, frameworks, what they hold and their quota",
		UsageText: "clusterd roles [-o json]\n\n" +
			"Example: clusterd roles -o json | jq '.[] | select(.name == \"web\") | .quota'",
		Description: "Lists every role something refers to (a weight, a quota, a framework, a task, a reservation),\n" +
			"sorted by name. ALLOCATED is what the role's tasks hold, OFFERED what its frameworks are\n" +
			"offered now, RESERVED what nodes reserve for it; QUOTA is consumed/limit by kind.\n" +
			"-o json prints the GET_ROLES roles of the Mesos operator API.",
		Flags: clientFlags(false),
		Action: operatorAction(0, 0, "clusterd roles", func(c *cli.Context, env *clientEnv, _ []string) error {
			roles, err := getRoles(c.Context, env)
			if err != nil {
				return err
			}
			if env.json {
				return printJSON(env.stdout, roles)
			}
			return writeRoles(env.stdout, roles)
		}),
	}
}

// ---- weights ----

func weightsCommand() *cli.Command {
	return &cli.Command{
		Name:  "weights",
		Usage: "list the roles' weights in fair sharing (set them with 'weights set')",
		UsageText: "clusterd weights [-o json]\n" +
			"clusterd weights set ROLE=WEIGHT [ROLE=WEIGHT...]\n\n" +
			"Example: clusterd weights set web=2 batch=0.5",
		Description: "A role with weight 2 gets twice the share of a role with weight 1 (the default) when both\n" +
			"want more than there is.",
		Flags: clientFlags(false),
		Subcommands: []*cli.Command{subcommand(&cli.Command{
			Name:      "set",
			Usage:     "set the weight of one or more roles",
			UsageText: "clusterd weights set ROLE=WEIGHT [ROLE=WEIGHT...]\n\nExample: clusterd weights set web=2 batch=0.5",
			Description: "Weights are positive numbers; 1 is the default. All weights given are set together, or none\n" +
				"is. Set a role back to 1 to give it the default weight again.",
			Flags: clientFlags(false),
			Action: operatorAction(1, -1, "clusterd weights set ROLE=WEIGHT [ROLE=WEIGHT...]", func(c *cli.Context, env *clientEnv, args []string) error {
				infos, err := parseWeights(args)
				if err != nil {
					return err
				}
				_, err = operatorCall(c.Context, env, &mesos.OperatorCall{Type: mesos.OperatorUpdateWeights,
					UpdateWeights: &mesos.OperatorUpdateWeightsInfo{WeightInfos: infos}})
				if err != nil {
					return fmt.Errorf("set weights: %w", err)
				}
				if env.json {
					return printJSON(env.stdout, outcome{Action: "set_weights", Weights: infos})
				}
				for _, w := range infos {
					fmt.Fprintf(env.stdout, "role %s: weight %s\n", w.Role, num(w.Weight))
				}
				return nil
			}),
		})},
		Action: listAction(func(c *cli.Context, env *clientEnv) error {
			roles, err := getRoles(c.Context, env)
			if err != nil {
				return err
			}
			infos := make([]mesos.WeightInfo, len(roles))
			for i, r := range roles {
				infos[i] = mesos.WeightInfo{Role: r.Name, Weight: r.Weight}
			}
			if env.json {
				return printJSON(env.stdout, infos)
			}
			return writeWeights(env.stdout, infos)
		}),
	}
}

// parseWeights reads ROLE=WEIGHT arguments. Every error is a usage error
// that names the argument.
func parseWeights(args []string) ([]mesos.WeightInfo, error) {
	if len(args) == 0 {
		return nil, usageErrorf("no weights given: clusterd weights set ROLE=WEIGHT [ROLE=WEIGHT...], e.g. web=2")
	}
	seen := map[string]string{}
	var out []mesos.WeightInfo
	for _, a := range args {
		role, val, ok := strings.Cut(a, "=")
		role, val = strings.TrimSpace(role), strings.TrimSpace(val)
		switch {
		case !ok:
			return nil, usageErrorf("%q: expected ROLE=WEIGHT, e.g. web=2", a)
		case role == "":
			return nil, usageErrorf("%q: the role is missing; expected ROLE=WEIGHT, e.g. web=2", a)
		}
		if err := mesos.ValidateRole(role); err != nil {
			return nil, usageErrorf("%q: %v", a, err)
		}
		w, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, usageErrorf("%q: weight %q is not a number; a weight is a positive number such as 2 or 0.5", a, val)
		}
		if w <= 0 {
			return nil, usageErrorf("%q: a weight must be positive (1 is the default)", a)
		}
		if prev, dup := seen[role]; dup {
			return nil, usageErrorf("%q: role %s is also given as %q", a, role, prev)
		}
		seen[role] = a
		out = append(out, mesos.WeightInfo{Role: role, Weight: w})
	}
	return out, nil
}

// ---- quota ----

const quotaSetUsage = "clusterd quota set ROLE cpus=N,mem=MiB[,disk=MiB,gpus=N]"

func quotaCommand() *cli.Command {
	return &cli.Command{
		Name:  "quota",
		Usage: "list the roles' quota limits and what they consume (set them with 'quota set')",
		UsageText: "clusterd quota [-o json]\n" +
			quotaSetUsage + "\n" +
			"clusterd quota remove ROLE\n\n" +
			"Example: clusterd quota set web cpus=4,mem=8192",
		Description: "A quota limits what a role's frameworks hold together (their tasks and outstanding offers).\n" +
			"Each cell is consumed/limit; '-' is no limit on that kind.",
		Flags: clientFlags(false),
		Subcommands: []*cli.Command{
			subcommand(&cli.Command{
				Name:      "set",
				Usage:     "set a role's quota limits (replacing its previous ones)",
				UsageText: quotaSetUsage + "\n\nExample: clusterd quota set web cpus=4,mem=8192  (or 'cpus:4;mem:8192')",
				Description: "Limits cpus, mem (MiB), disk (MiB) and gpus; a kind not given is not limited. The limits\n" +
					"replace the role's previous ones. A role already above a new limit keeps what it holds but\n" +
					"is offered no more of that kind until it is back under it.",
				Flags: clientFlags(false),
				Action: operatorAction(2, 2, quotaSetUsage, func(c *cli.Context, env *clientEnv, args []string) error {
					role, err := parseRoleArg(args[0])
					if err != nil {
						return err
					}
					limits, err := parseQuotaLimits(args[1])
					if err != nil {
						return err
					}
					_, err = operatorCall(c.Context, env, &mesos.OperatorCall{Type: mesos.OperatorUpdateQuota,
						UpdateQuota: &mesos.OperatorUpdateQuotaInfo{QuotaConfigs: []mesos.QuotaConfig{{Role: role, Limits: limits}}}})
					if err != nil {
						return fmt.Errorf("set quota of role %s: %w", role, err)
					}
					return env.say(outcome{Action: "set_quota", Role: role, Quota: limits}, "role %s: quota %s", role, limitsText(limits))
				}),
			}),
			subcommand(&cli.Command{
				Name:      "remove",
				Usage:     "remove a role's quota (no limits)",
				UsageText: "clusterd quota remove ROLE\n\nExample: clusterd quota remove web",
				Flags:     clientFlags(false),
				Action: operatorAction(1, 1, "clusterd quota remove ROLE", func(c *cli.Context, env *clientEnv, args []string) error {
					role, err := parseRoleArg(args[0])
					if err != nil {
						return err
					}
					roles, err := getRoles(c.Context, env)
					if err != nil {
						return err
					}
					if quotaOf(roles, role) == nil {
						var with []string
						for _, r := range roles {
							if hasQuota(r) {
								with = append(with, r.Name)
							}
						}
						if len(with) == 0 {
							return fmt.Errorf("role %s has no quota; no role has one", role)
						}
						return fmt.Errorf("role %s has no quota; roles with a quota: %s (see 'clusterd quota')", role, strings.Join(with, ", "))
					}
					_, err = operatorCall(c.Context, env, &mesos.OperatorCall{Type: mesos.OperatorUpdateQuota,
						UpdateQuota: &mesos.OperatorUpdateQuotaInfo{QuotaConfigs: []mesos.QuotaConfig{{Role: role}}}})
					if err != nil {
						return fmt.Errorf("remove quota of role %s: %w", role, err)
					}
					return env.say(outcome{Action: "remove_quota", Role: role}, "role %s: quota removed (no limits)", role)
				}),
			}),
		},
		Action: listAction(func(c *cli.Context, env *clientEnv) error {
			roles, err := getRoles(c.Context, env)
			if err != nil {
				return err
			}
			quotas := []mesos.RoleQuota{}
			for _, r := range roles {
				if hasQuota(r) {
					quotas = append(quotas, *r.Quota)
				}
			}
			if env.json {
				return printJSON(env.stdout, quotas)
			}
			if len(quotas) == 0 {
				fmt.Fprintf(env.stderr, "no role has a quota; set one with '%s'\n", quotaSetUsage)
			}
			return writeQuotas(env.stdout, quotas)
		}),
	}
}

func hasQuota(r mesos.Role) bool { return r.Quota != nil && len(r.Quota.Limits) > 0 }

func quotaOf(roles []mesos.Role, name string) *mesos.RoleQuota {
	for _, r := range roles {
		if r.Name == name && hasQuota(r) {
			return r.Quota
		}
	}
	return nil
}

func parseRoleArg(role string) (string, error) {
	role = strings.TrimSpace(role)
	if err := mesos.ValidateRole(role); err != nil {
		return "", usageErrorf("role %q: %v", role, err)
	}
	return role, nil
}

// quotaKinds are what a quota can limit, in the order they are shown.
var quotaKinds = []string{mesos.ResourceCPUs, mesos.ResourceMem, mesos.ResourceDisk, mesos.ResourceGPUs}

// parseQuotaLimits reads "cpus=4,mem=8192" or the Mesos form "cpus:4;mem:8192".
// Every error is a usage error that names the item.
func parseQuotaLimits(spec string) (map[string]mesos.Scalar, error) {
	items := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ';' })
	limits := map[string]mesos.Scalar{}
	for _, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.IndexAny(item, "=:")
		if i < 0 {
			return nil, usageErrorf("quota %q: expected KIND=AMOUNT, e.g. cpus=4", item)
		}
		kind, val := strings.ToLower(strings.TrimSpace(item[:i])), strings.TrimSpace(item[i+1:])
		switch kind {
		case mesos.ResourceCPUs, mesos.ResourceMem, mesos.ResourceDisk, mesos.ResourceGPUs:
		case mesos.ResourcePorts:
			return nil, usageErrorf("quota %q: ports cannot be limited; a quota limits cpus, mem, disk and gpus", item)
		default:
			return nil, usageErrorf("quota %q: unknown kind %q; a quota limits cpus, mem, disk and gpus", item, kind)
		}
		if _, dup := limits[kind]; dup {
			return nil, usageErrorf("quota %q: %s is given twice", item, kind)
		}
		v, err := strconv.ParseFloat(val, 64)
		switch {
		case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
			return nil, usageErrorf("quota %q: %q is not a number", item, val)
		case v < 0:
			return nil, usageErrorf("quota %q: a limit must not be negative", item)
		case kind == mesos.ResourceGPUs && v != math.Trunc(v):
			return nil, usageErrorf("quota %q: gpus is a whole number", item)
		case v == 0:
			// clusterd reads a zero limit as no limit on that kind, which is
			// the opposite of what 0 says.
			return nil, usageErrorf("quota %q: clusterd takes a zero limit as no limit on %s; leave %s out instead, or remove the quota with 'clusterd quota remove ROLE'", item, kind, kind)
		}
		limits[kind] = mesos.Scalar{Value: v}
	}
	if len(limits) == 0 {
		return nil, usageErrorf("no limits in %q: e.g. cpus=4,mem=8192 (to remove a quota: clusterd quota remove ROLE)", spec)
	}
	return limits, nil
}

// ---- frameworks ----

func frameworksCommand() *cli.Command {
	return &cli.Command{
		Name:  "frameworks",
		Usage: "list frameworks (schedulers) with their tasks and what they hold",
		UsageText: "clusterd frameworks [--all] [-o json]\n" +
			"clusterd frameworks teardown [--yes] ID\n\n" +
			"Example: clusterd frameworks --all",
		Description: "The built-in jobs framework (clusterd-jobs) runs what 'clusterd run' submits; other\n" +
			"frameworks connect through the Mesos scheduler API. TASKS counts their active tasks, OFFERS\n" +
			"their outstanding offers. -o json prints the GET_FRAMEWORKS answer of the Mesos operator API.",
		Flags: append(clientFlags(false),
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "also list removed (torn down or timed out) frameworks"},
		),
		Subcommands: []*cli.Command{subcommand(&cli.Command{
			Name:      "teardown",
			Usage:     "remove a framework and kill all its tasks",
			UsageText: "clusterd frameworks teardown [--yes] ID\n\nExample: clusterd frameworks teardown --yes 5f0c2a9e1b7d4c3a-9a8b7c6d",
			Description: "ID is a framework id or a unique prefix of one (see 'clusterd frameworks'). Asks for\n" +
				"confirmation on a terminal; elsewhere --yes is required. A torn-down framework cannot\n" +
				"subscribe again with the same id.",
			Flags: append(clientFlags(false),
				&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
			),
			Action: operatorAction(1, 1, "clusterd frameworks teardown [--yes] ID", teardownAction),
		})},
		Action: listAction(func(c *cli.Context, env *clientEnv) error {
			fws, err := getFrameworks(c.Context, env)
			if err != nil {
				return err
			}
			if !c.Bool("all") {
				fws.CompletedFrameworks = nil
			}
			if env.json {
				return printJSON(env.stdout, fws)
			}
			tasks, err := activeTasksByFramework(c.Context, env)
			if err != nil {
				return err
			}
			return writeFrameworks(env.stdout, fws, tasks, nowOf(c))
		}),
	}
}

func getFrameworks(ctx context.Context, env *clientEnv) (*mesos.GetFrameworksResponse, error) {
	resp, err := operatorRead(ctx, env, mesos.OperatorGetFrameworks)
	if err != nil {
		return nil, err
	}
	if resp.GetFrameworks == nil {
		return &mesos.GetFrameworksResponse{}, nil
	}
	return resp.GetFrameworks, nil
}

// activeTasksByFramework counts the active tasks of each framework.
func activeTasksByFramework(ctx context.Context, env *clientEnv) (map[string]int, error) {
	resp, err := operatorRead(ctx, env, mesos.OperatorGetTasks)
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	if resp.GetTasks != nil {
		for _, t := range resp.GetTasks.Tasks {
			n[t.FrameworkID.Value]++
		}
	}
	return n, nil
}

func frameworkID(f mesos.OperatorFramework) string {
	if f.FrameworkInfo.ID == nil {
		return ""
	}
	return f.FrameworkInfo.ID.Value
}

// resolveFramework finds the framework an id or unique id prefix names
// among the frameworks that are not removed.
func resolveFramework(fws *mesos.GetFrameworksResponse, arg string) (mesos.OperatorFramework, error) {
	var matches []mesos.OperatorFramework
	for _, f := range fws.Frameworks {
		id := frameworkID(f)
		if id == arg {
			return f, nil
		}
		if strings.HasPrefix(id, arg) {
			matches = append(matches, f)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		for _, f := range fws.CompletedFrameworks {
			if id := frameworkID(f); id == arg || strings.HasPrefix(id, arg) {
				return mesos.OperatorFramework{}, fmt.Errorf("framework %s was already removed", id)
			}
		}
		return mesos.OperatorFramework{}, fmt.Errorf("no framework %q; see 'clusterd frameworks'", arg)
	}
	ids := make([]string, len(matches))
	for i, f := range matches {
		ids[i] = frameworkID(f)
	}
	sort.Strings(ids)
	return mesos.OperatorFramework{}, usageErrorf("%q matches %d frameworks: %s; give more of the id", arg, len(ids), strings.Join(ids, ", "))
}

func teardownAction(c *cli.Context, env *clientEnv, args []string) error {
	ctx := c.Context
	fws, err := getFrameworks(ctx, env)
	if err != nil {
		return err
	}
	fw, err := resolveFramework(fws, args[0])
	if err != nil {
		return err
	}
	id, name := frameworkID(fw), fw.FrameworkInfo.Name
	if id == jobs.FrameworkID {
		return usageErrorf("%s is the built-in jobs framework and cannot be torn down; delete its jobs with 'clusterd kill JOB'", id)
	}
	tasks, err := activeTasksByFramework(ctx, env)
	if err != nil {
		return err
	}
	if !c.Bool("yes") {
		question := fmt.Sprintf("tear down framework %s (%s) and kill its %d tasks?", id, dash(name), tasks[id])
		if err := confirmOrRefuse(c, env, question, "not tearing down framework "+id); err != nil {
			return err
		}
	}
	_, err = operatorCall(ctx, env, &mesos.OperatorCall{Type: mesos.OperatorTeardown,
		Teardown: &mesos.OperatorTeardownInfo{FrameworkID: mesos.FrameworkID{Value: id}}})
	if err != nil {
		return fmt.Errorf("tear down framework %s: %w", id, err)
	}
	return env.say(outcome{Action: "teardown", Framework: id, ActiveTasks: intPtr(tasks[id])},
		"framework %s (%s) torn down; killing its %d active task(s)", id, dash(name), tasks[id])
}

func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminal(f)
}

// confirm asks a yes/no question; only y or yes (any case) is a yes.
func confirm(in io.Reader, out io.Writer, question string) (bool, error) {
	fmt.Fprintf(out, "%s [y/N] ", question)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// ---- drain, deactivate, reactivate ----

// resolveNode finds the node a name, an id or a unique id prefix names.
func resolveNode(nodes []api.Node, arg string) (api.Node, error) {
	var byName, byPrefix []api.Node
	for _, n := range nodes {
		switch {
		case n.ID == arg:
			return n, nil
		case n.Name == arg:
			byName = append(byName, n)
		case strings.HasPrefix(n.ID, arg):
			byPrefix = append(byPrefix, n)
		}
	}
	for _, m := range [][]api.Node{byName, byPrefix} {
		switch len(m) {
		case 0:
			continue
		case 1:
			return m[0], nil
		}
		return api.Node{}, usageErrorf("%q matches %d nodes: %s; give the node's id", arg, len(m), nodeList(m))
	}
	if len(nodes) == 0 {
		return api.Node{}, fmt.Errorf("no node %q: the cluster has no nodes (see 'clusterd nodes')", arg)
	}
	return api.Node{}, fmt.Errorf("no node %q; nodes: %s (see 'clusterd nodes')", arg, nodeList(nodes))
}

// nodeList writes "name (id), ..." sorted by name, at most 10.
func nodeList(nodes []api.Node) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = fmt.Sprintf("%s (%s)", dash(n.Name), n.ID)
	}
	sort.Strings(parts)
	if len(parts) > 10 {
		parts = append(parts[:10], fmt.Sprintf("and %d more", len(parts)-10))
	}
	return strings.Join(parts, ", ")
}

func nodeArg(ctx context.Context, env *clientEnv, arg string) (api.Node, error) {
	nodes, err := env.c.Nodes(ctx)
	if err != nil {
		return api.Node{}, err
	}
	return resolveNode(nodes, arg)
}

// tasksNote is what a node's active tasks do: "its 3 task(s) keep running"
// with doing "keep running", or "it runs no tasks".
func tasksNote(n int, doing string) string {
	if n == 0 {
		return "it runs no tasks"
	}
	return fmt.Sprintf("its %d task(s) %s", n, doing)
}

func agentRef(n api.Node) *mesos.OperatorAgentRef {
	return &mesos.OperatorAgentRef{AgentID: mesos.AgentID{Value: n.ID}}
}

func deactivateCommand() *cli.Command {
	return &cli.Command{
		Name:      "deactivate",
		Usage:     "stop placing new tasks on a node; its tasks keep running",
		UsageText: "clusterd deactivate NODE\n\nExample: clusterd deactivate ip-10-0-1-5",
		Description: "NODE is a node name, id or unique id prefix (see 'clusterd nodes'). The node is offered to no\n" +
			"framework until 'clusterd reactivate NODE'; it stays inactive across restarts.",
		Flags: clientFlags(false),
		Action: operatorAction(1, 1, "clusterd deactivate NODE", func(c *cli.Context, env *clientEnv, args []string) error {
			n, err := nodeArg(c.Context, env, args[0])
			if err != nil {
				return err
			}
			if _, err := operatorCall(c.Context, env, &mesos.OperatorCall{Type: mesos.OperatorDeactivateAgent, DeactivateAgent: agentRef(n)}); err != nil {
				return fmt.Errorf("deactivate node %s: %w", n.Name, err)
			}
			return env.say(outcome{Action: "deactivate", Node: n.ID, NodeName: n.Name, State: "inactive", ActiveTasks: intPtr(n.Tasks)},
				"node %s (%s) deactivated: no new tasks go there; %s. Undo with 'clusterd reactivate %s'",
				n.Name, n.ID, tasksNote(n.Tasks, "keep running"), n.Name)
		}),
	}
}

func reactivateCommand() *cli.Command {
	return &cli.Command{
		Name:        "reactivate",
		Usage:       "put a deactivated or drained node back in service",
		UsageText:   "clusterd reactivate NODE\n\nExample: clusterd reactivate ip-10-0-1-5",
		Description: "NODE is a node name, id or unique id prefix (see 'clusterd nodes').",
		Flags:       clientFlags(false),
		Action: operatorAction(1, 1, "clusterd reactivate NODE", func(c *cli.Context, env *clientEnv, args []string) error {
			n, err := nodeArg(c.Context, env, args[0])
			if err != nil {
				return err
			}
			if _, err := operatorCall(c.Context, env, &mesos.OperatorCall{Type: mesos.OperatorReactivateAgent, ReactivateAgent: agentRef(n)}); err != nil {
				return fmt.Errorf("reactivate node %s: %w", n.Name, err)
			}
			return env.say(outcome{Action: "reactivate", Node: n.ID, NodeName: n.Name, State: "active"},
				"node %s (%s) reactivated: it takes new tasks again", n.Name, n.ID)
		}),
	}
}

func drainCommand() *cli.Command {
	return &cli.Command{
		Name:  "drain",
		Usage: "take a node out of service: no new tasks, and its tasks are killed to run elsewhere",
		UsageText: "clusterd drain [--grace DURATION] [--wait [--timeout DURATION]] NODE\n\n" +
			"Example: clusterd drain --grace 30s --wait ip-10-0-1-5",
		Description: "NODE is a node name, id or unique id prefix (see 'clusterd nodes'). The node gets no new\n" +
			"tasks and its tasks are killed (each within its own kill grace period, or --grace if that is\n" +
			"shorter); services are started again on other nodes. With --wait, waits until no task is\n" +
			"left on the node. 'clusterd reactivate NODE' puts it back in service.",
		Flags: append(clientFlags(false),
			&cli.DurationFlag{Name: "grace", Usage: "the longest a task is given to stop before it is killed (default: each task's kill_grace_seconds)"},
			&cli.BoolFlag{Name: "wait", Aliases: []string{"w"}, Usage: "wait until the node has no tasks left, showing progress"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "how long --wait waits; past it, exit 3 (the node keeps draining)"},
		),
		Action: operatorAction(1, 1, "clusterd drain [--grace DURATION] [--wait] NODE", func(c *cli.Context, env *clientEnv, args []string) error {
			info := &mesos.OperatorDrainAgentInfo{}
			if c.IsSet("grace") {
				g := c.Duration("grace")
				if g < 0 {
					return usageErrorf("--grace %v: must not be negative", g)
				}
				info.MaxGracePeriod = &mesos.DurationInfo{Nanoseconds: mesos.Int64(g.Nanoseconds())}
			}
			n, err := nodeArg(c.Context, env, args[0])
			if err != nil {
				return err
			}
			info.AgentID = mesos.AgentID{Value: n.ID}
			if _, err := operatorCall(c.Context, env, &mesos.OperatorCall{Type: mesos.OperatorDrainAgent, DrainAgent: info}); err != nil {
				return fmt.Errorf("drain node %s: %w", n.Name, err)
			}
			if !c.Bool("wait") {
				return env.say(outcome{Action: "drain", Node: n.ID, NodeName: n.Name, State: "draining", ActiveTasks: intPtr(n.Tasks)},
					"node %s (%s) is draining: %s. Follow it with 'clusterd drain --wait %s'; undo with 'clusterd reactivate %s'",
					n.Name, n.ID, tasksNote(n.Tasks, "are being killed"), n.Name, n.Name)
			}
			if err := waitDrained(c.Context, env, n, c.Duration("timeout")); err != nil {
				return err
			}
			return env.say(outcome{Action: "drain", Node: n.ID, NodeName: n.Name, State: "drained", ActiveTasks: intPtr(0)},
				"node %s (%s) is drained: no tasks left. 'clusterd reactivate %s' puts it back in service", n.Name, n.ID, n.Name)
		}),
	}
}

// waitDrained polls the node's drain state until it is DRAINED, showing
// progress on stderr.
func waitDrained(parent context.Context, env *clientEnv, n api.Node, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	p := newProgress(env.stderr)
	defer p.finish()
	spin := time.NewTicker(120 * time.Millisecond)
	defer spin.Stop()
	events, err := env.c.Events(ctx)
	if err != nil {
		events = nil // poll only
	}
	fail := func(err error) error {
		switch {
		case parent.Err() != nil:
			return &codeError{code: exitInterrupt, err: fmt.Errorf("stopped waiting; node %s keeps draining (see 'clusterd ps --active --node %s')", n.Name, n.ID)}
		case ctx.Err() != nil:
			return &codeError{code: exitTimeout, err: fmt.Errorf("timed out after %v waiting for node %s to drain: %s; it keeps draining: see 'clusterd ps --active --node %s'", timeout, n.Name, dash(strings.TrimPrefix(p.last, "node "+n.Name+": ")), n.ID)}
		}
		return err
	}
	var nextPoll time.Time
	for {
		if !time.Now().Before(nextPoll) {
			nextPoll = time.Now().Add(pollInterval)
			resp, err := operatorRead(ctx, env, mesos.OperatorGetAgents)
			var tasks []api.Task
			if err == nil {
				tasks, err = env.c.Tasks(ctx, api.TaskFilter{Node: n.ID, Active: true})
			}
			if err != nil {
				return fail(err)
			}
			line, done, derr := drainProgress(n, findAgent(resp.GetAgents, n.ID), tasks)
			p.show(line)
			if done {
				p.finish()
				return derr
			}
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
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

func findAgent(agents *mesos.GetAgentsResponse, id string) *mesos.OperatorAgent {
	if agents == nil {
		return nil
	}
	for i := range agents.Agents {
		if a := &agents.Agents[i]; a.AgentInfo.ID != nil && a.AgentInfo.ID.Value == id {
			return a
		}
	}
	return nil
}

// drainProgress is the state of a drain --wait as a pure function of the
// agent (nil: no longer in the cluster) and its active tasks: a one-line
// summary, whether waiting is over, and the error to exit with.
func drainProgress(n api.Node, agent *mesos.OperatorAgent, tasks []api.Task) (line string, done bool, err error) {
	switch {
	case agent == nil:
		return "node " + n.Name + ": gone", true, fmt.Errorf("node %s left the cluster or went down while draining; see 'clusterd nodes'", n.Name)
	case agent.DrainInfo == nil:
		return "node " + n.Name + ": not draining", true, fmt.Errorf("node %s is no longer draining (was it reactivated?); see 'clusterd nodes'", n.Name)
	case agent.DrainInfo.State == mesos.DrainStateDrained:
		return "node " + n.Name + ": drained", true, nil
	}
	byState := map[string]int{}
	for _, t := range tasks {
		byState[t.State]++
	}
	var parts []string
	known := 0
	for _, s := range []string{api.TaskStaging, api.TaskStarting, api.TaskRunning, api.TaskKilling} {
		if k := byState[s]; k > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", k, strings.ToLower(shortState(s))))
			known += k
		}
	}
	if other := len(tasks) - known; other > 0 {
		parts = append(parts, fmt.Sprintf("%d other", other))
	}
	line = fmt.Sprintf("node %s: draining, %d task(s) left", n.Name, len(tasks))
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	return line, false, nil
}
