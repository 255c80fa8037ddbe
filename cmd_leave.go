package main

// `clusterd leave`: the node at --addr leaves the cluster and exits. With
// --wait the CLI follows the leave through the other nodes (the leaving one
// stops answering) until the cluster records it as left and no task is
// active on it any more.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/web/api"
	"github.com/clusterd/clusterd/web/client"
)

const (
	nodeStateLeft = "left"
	nodeStateDown = "down"
)

func leaveCommand() *cli.Command {
	const usage = "clusterd [--addr URL] leave [--wait [--timeout DURATION]]"
	return &cli.Command{
		Name:      "leave",
		Usage:     "make the node at --addr leave the cluster gracefully and exit",
		UsageText: usage + "\n\nExample: clusterd --addr http://10.0.1.5:5050 leave --wait",
		Description: "The node's tasks are replaced on other nodes, a leader hands over leadership first, and a voter\n" +
			"is removed from the Raft configuration. A cluster's only node refuses to leave.\n" +
			"With --wait, follows the leave through the other nodes until the cluster records the node as\n" +
			"left and none of its tasks is active any more (exit 3 on --timeout).",
		Flags: append(clientFlags(false), waitFlags("the node has left and its tasks are gone from it")...),
		Action: operatorAction(0, 0, usage, func(c *cli.Context, env *clientEnv, _ []string) error {
			ctx := c.Context
			self, others, peers, err := leaveTargets(ctx, env)
			switch {
			case err != nil && c.Bool("wait"):
				return err
			case err != nil:
				// Without --wait the node's own answer is all that matters.
				self = api.Node{}
			case peers == 0:
				return fmt.Errorf("node %s at %s is the only node of its cluster and cannot leave it; stop it instead", self.Name, env.c.Addr())
			case len(others) == 0 && c.Bool("wait"):
				return fmt.Errorf("leave --wait: no other node of the cluster reports its HTTP address to follow the leave through; leave without --wait and watch 'clusterd nodes'")
			}
			if err := env.c.Leave(ctx); err != nil {
				return fmt.Errorf("leave: %w", err)
			}
			if self.ID == "" {
				return env.say(outcome{Action: "leave", State: "leaving"}, "the node at %s is leaving the cluster", env.c.Addr())
			}
			if !c.Bool("wait") {
				return env.say(outcome{Action: "leave", Node: self.ID, NodeName: self.Name, State: "leaving", ActiveTasks: intPtr(self.Tasks)},
					"node %s (%s) at %s is leaving the cluster: %s. Follow it with 'clusterd nodes' against another node (--addr)",
					self.Name, self.ID, env.c.Addr(), tasksNote(self.Tasks, "move to other nodes"))
			}
			if err := waitLeft(ctx, env, self, others, c.Duration("timeout")); err != nil {
				return err
			}
			return env.say(outcome{Action: "leave", Node: self.ID, NodeName: self.Name, State: nodeStateLeft, ActiveTasks: intPtr(0)},
				"node %s (%s) has left the cluster; no task of it is active", self.Name, self.ID)
		}),
	}
}

// leaveTargets is the node at --addr, clients of the other nodes that can
// report on it once it is gone (the leader first), and how many other
// nodes are up.
func leaveTargets(ctx context.Context, env *clientEnv) (self api.Node, others []*client.Client, peers int, err error) {
	st, err := env.c.Status(ctx)
	if err != nil {
		return api.Node{}, nil, 0, err
	}
	nodes, err := env.c.Nodes(ctx)
	if err != nil {
		return api.Node{}, nil, 0, err
	}
	self = api.Node{ID: st.NodeID, Name: st.NodeName}
	var leader, rest []*client.Client
	for _, n := range nodes {
		switch {
		case n.ID == st.NodeID:
			self = n
		case n.State == nodeStateLeft || n.State == nodeStateDown:
		case n.Address == "":
			peers++
		case n.Leader:
			peers++
			leader = append(leader, env.clientOf(n.Address))
		default:
			peers++
			rest = append(rest, env.clientOf(n.Address))
		}
	}
	return self, append(leader, rest...), peers, nil
}

// waitLeft polls the other nodes about self until leaveProgress says done,
// showing progress on stderr. A node that does not answer is skipped for
// the next one: leadership may be moving.
func waitLeft(parent context.Context, env *clientEnv, self api.Node, others []*client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	p := newProgress(env.stderr)
	defer p.finish()
	spin := time.NewTicker(120 * time.Millisecond)
	defer spin.Stop()
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return &codeError{code: exitInterrupt, err: fmt.Errorf("stopped waiting; node %s keeps leaving (see 'clusterd nodes')", self.Name)}
			}
			return &codeError{code: exitTimeout, err: fmt.Errorf("timed out after %v waiting for node %s to leave: %s; see 'clusterd nodes' and 'clusterd ps --active --node %s' on another node",
				timeout, self.Name, dash(strings.TrimPrefix(p.last, "node "+self.Name+": ")), self.ID)}
		case <-spin.C:
			p.tick()
		case <-poll.C:
			poll.Reset(pollInterval)
			var lastErr error
			answered := false
			for _, c := range others {
				nodes, err := c.Nodes(ctx)
				var tasks []api.Task
				if err == nil {
					tasks, err = c.Tasks(ctx, api.TaskFilter{Node: self.ID, Active: true})
				}
				if err != nil {
					lastErr = err
					continue
				}
				answered = true
				line, done := leaveProgress(self, findNode(nodes, self.ID), tasks)
				p.show(line)
				if done {
					p.finish()
					return nil
				}
				break
			}
			if !answered && ctx.Err() == nil {
				p.show(fmt.Sprintf("node %s: leaving; no other node answers (%v)", self.Name, lastErr))
			}
		}
	}
}

func findNode(nodes []api.Node, id string) *api.Node {
	for i := range nodes {
		if nodes[i].ID == id {
			return &nodes[i]
		}
	}
	return nil
}

// leaveProgress is the state of a leave --wait as a pure function of the
// leaving node as another node sees it (nil: forgotten) and its active
// tasks: a one-line summary, and whether the leave is complete: the node
// is recorded as left (or forgotten) and none of its tasks is active.
func leaveProgress(self api.Node, now *api.Node, tasks []api.Task) (line string, done bool) {
	state := "left"
	if now != nil {
		state = dash(now.State)
	}
	gone := now == nil || now.State == nodeStateLeft
	if gone && len(tasks) == 0 {
		return "node " + self.Name + ": left, no active tasks", true
	}
	if !gone {
		state = "leaving (still " + state + ")"
	}
	line = fmt.Sprintf("node %s: %s, %d task(s) left", self.Name, state, len(tasks))
	if len(tasks) > 0 {
		byState := map[string]int{}
		var states []string
		for _, t := range tasks {
			s := strings.ToLower(shortState(t.State))
			if byState[s] == 0 {
				states = append(states, s)
			}
			byState[s]++
		}
		sort.Strings(states)
		parts := make([]string, len(states))
		for i, s := range states {
			parts[i] = fmt.Sprintf("%d %s", byState[s], s)
		}
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	return line, false
}
