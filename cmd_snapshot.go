package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/node"
	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
)

// ---- snapshot save, inspect, restore ----

func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "back up and restore the cluster's replicated state",
		Description: "A snapshot is the whole Raft state (nodes, jobs, tasks, frameworks, roles) at one\n" +
			"committed index, taken by the leader. Save one regularly and before every upgrade;\n" +
			"restore it to undo a disaster. See docs/OPERATIONS.md, \"Backup and restore\".",
		Flags:  clientFlags(false),
		Action: listAction(func(c *cli.Context, _ *clientEnv) error { return cli.ShowSubcommandHelp(c) }),
		Subcommands: []*cli.Command{
			subcommand(&cli.Command{
				Name:      "save",
				Usage:     "write a snapshot of the cluster state to FILE",
				UsageText: "clusterd snapshot save FILE\n\nExample: clusterd snapshot save /var/backups/clusterd-$(date +%F).snap",
				Description: "The leader takes the snapshot; the download is checked against its SHA-256 and\n" +
					"written to FILE.tmp, then renamed, so FILE is never a partial snapshot.",
				Flags:  clientFlags(false),
				Action: operatorAction(1, 1, "clusterd snapshot save FILE", snapshotSaveAction),
			}),
			subcommand(&cli.Command{
				Name:      "inspect",
				Usage:     "check a snapshot file and say what is in it (no cluster needed)",
				UsageText: "clusterd snapshot inspect FILE",
				Flags:     clientFlags(false),
				Action: func(c *cli.Context) error {
					args, err := checkArgs(c, 1, 1, "clusterd snapshot inspect FILE")
					if err != nil {
						return err
					}
					env, err := newClientEnv(c)
					if err != nil {
						return err
					}
					s, err := inspectSnapshotFile(args[0])
					if err != nil {
						return err
					}
					return writeSnapshotSummary(env, s, "")
				},
			}),
			subcommand(&cli.Command{
				Name:      "restore",
				Usage:     "replace the cluster's state with a snapshot",
				UsageText: "clusterd snapshot restore [--yes] [--force] FILE",
				Description: "Every job, task record, framework and role is replaced by the snapshot's. Tasks the\n" +
					"snapshot does not list are killed; the active tasks it lists that their agent no longer\n" +
					"runs are started there again.\n" +
					"It asks for confirmation on a terminal; elsewhere --yes is required. A snapshot of\n" +
					"another cluster is refused unless --force.",
				Flags: append(clientFlags(false),
					&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
					&cli.BoolFlag{Name: "force", Usage: "restore a snapshot taken from another cluster"},
				),
				Action: operatorAction(1, 1, "clusterd snapshot restore [--yes] [--force] FILE", snapshotRestoreAction),
			}),
		},
	}
}

func snapshotSaveAction(c *cli.Context, env *clientEnv, args []string) error {
	path := args[0]
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	sha, n, err := env.c.SaveSnapshot(c.Context, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("snapshot save: %w", err)
	}
	s, err := inspectSnapshotFile(tmp)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("snapshot save: the leader sent a snapshot that does not read back (not saved): %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("snapshot save: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync() // the rename lasts through a crash
		dir.Close()
	}
	s.SHA256, s.Bytes = sha, n
	return writeSnapshotSummary(env, s, "saved "+path)
}

func snapshotRestoreAction(c *cli.Context, env *clientEnv, args []string) error {
	data, err := os.ReadFile(args[0])
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	// Read it here first: a bad file fails before anyone is asked anything.
	s, err := node.ReadSnapshot(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("snapshot restore: %s is not a usable snapshot: %w", args[0], err)
	}
	if !c.Bool("yes") {
		question := fmt.Sprintf("replace the whole cluster state with %s (index %d: %d jobs, %d tasks, %d nodes)? Tasks it does not know are killed.",
			args[0], s.Index, s.Jobs, s.Tasks, s.Nodes)
		if err := confirmOrRefuse(c, env, question, "not restoring "+args[0]); err != nil {
			return err
		}
	}
	got, err := env.c.RestoreSnapshot(c.Context, data, c.Bool("force"))
	if err != nil {
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Status == http.StatusConflict && !c.Bool("force") {
			return fmt.Errorf("snapshot restore: %w (to restore it into this cluster anyway, add --force)", err)
		}
		return fmt.Errorf("snapshot restore: %w", err)
	}
	return writeSnapshotSummary(env, got, "restored "+args[0])
}

// confirmOrRefuse asks question on a terminal and returns nil on a yes;
// without a terminal, or on a no, it returns an error naming what was not
// done and, for scripts, the flag that skips the question.
func confirmOrRefuse(c *cli.Context, env *clientEnv, question, refusal string) error {
	if !isTerminalReader(c.App.Reader) {
		return usageErrorf("%s without confirmation: stdin is not a terminal; pass --yes", refusal)
	}
	ok, err := confirm(c.App.Reader, env.stderr, question)
	if err != nil {
		return err
	}
	if !ok {
		fmt.Fprintln(env.stderr, refusal)
		return &codeError{code: exitError}
	}
	return nil
}

func inspectSnapshotFile(path string) (api.SnapshotSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return api.SnapshotSummary{}, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	s, err := node.ReadSnapshot(f)
	if err != nil {
		return s, fmt.Errorf("snapshot %s: %w", path, err)
	}
	if st, err := f.Stat(); err == nil {
		s.Bytes = st.Size()
	}
	return s, nil
}

func writeSnapshotSummary(env *clientEnv, s api.SnapshotSummary, headline string) error {
	if env.json {
		return printJSON(env.stdout, s)
	}
	if headline != "" {
		fmt.Fprintln(env.stdout, headline)
	}
	tw := newTable(env.stdout)
	rows := [][2]string{
		{"cluster", s.ClusterID},
		{"raft index", fmt.Sprint(s.Index)},
		{"log version", fmt.Sprint(s.LogVersion)},
		{"nodes", fmt.Sprint(s.Nodes)},
		{"jobs", fmt.Sprint(s.Jobs)},
		{"tasks", fmt.Sprint(s.Tasks)},
		{"frameworks", fmt.Sprint(s.Frameworks)},
	}
	if s.Bytes > 0 {
		rows = append(rows, [2]string{"size", fmt.Sprintf("%d bytes", s.Bytes)})
	}
	if s.SHA256 != "" {
		rows = append(rows, [2]string{"sha256", s.SHA256})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// ---- recover ----

func recoverCommand() *cli.Command {
	return &cli.Command{
		Name:      "recover",
		Usage:     "make a stopped server the only voter of its cluster after quorum is lost for good",
		UsageText: "clusterd recover [--yes] --data-dir DIR",
		Description: "When most of the Raft servers are gone and will not come back, the rest cannot elect a\n" +
			"leader. Stop clusterd on the surviving server with the most recent state, run this on\n" +
			"its data dir, and start it again: it leads alone with everything it had committed and\n" +
			"uncommitted. Then, on each other survivor, stop clusterd, move its DATA/raft aside and\n" +
			"join it again. See docs/OPERATIONS.md, \"Lost quorum\".",
		Flags: append(clientFlags(false),
			&cli.StringFlag{Name: "data-dir", Value: node.DefaultConfig().DataDir, EnvVars: []string{"CLUSTERD_DATA_DIR"}, Usage: "the stopped node's data dir"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
		),
		Action: func(c *cli.Context) error {
			if _, err := checkArgs(c, 0, 0, "clusterd recover [--yes] --data-dir DIR"); err != nil {
				return err
			}
			env, err := newClientEnv(c)
			if err != nil {
				return err
			}
			dir := c.String("data-dir")
			if !c.Bool("yes") {
				question := fmt.Sprintf("make the node in %s the only Raft server of its cluster? Do this on one survivor only.", dir)
				if err := confirmOrRefuse(c, env, question, "not recovering "+dir); err != nil {
					return err
				}
			}
			res, err := node.RecoverAlone(dir)
			if err != nil {
				return err
			}
			if env.json {
				return printJSON(env.stdout, res)
			}
			return writeRecovery(env.stdout, dir, res)
		},
	}
}

func writeRecovery(w io.Writer, dir string, res node.RecoveryResult) error {
	host := res.RaftAddr
	if h, _, err := net.SplitHostPort(res.RaftAddr); err == nil {
		host = h
	}
	fmt.Fprintf(w, "node %s (%s) is now the only server of its cluster, with its log up to index %d.\n", res.NodeID, res.RaftAddr, res.Index)
	if len(res.Removed) > 0 {
		fmt.Fprintf(w, "removed from the configuration: %s\n", strings.Join(res.Removed, ", "))
	}
	fmt.Fprintf(w, "next:\n"+
		"  1. start clusterd on this node again with the same --data-dir %s; it elects itself leader\n"+
		"  2. on every other surviving server: stop clusterd, move its DATA/raft aside (mv DATA/raft DATA/raft.old)\n"+
		"     and start it with 'clusterd join %s'\n", dir, host)
	return nil
}
