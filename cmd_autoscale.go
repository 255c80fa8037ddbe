package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/clusterd/clusterd/web/api"
)

func autoscaleCommand() *cli.Command {
	return &cli.Command{
		Name:  "autoscale",
		Usage: "see the autoscaler: its groups, their rules, pending shortfall and the last decisions",
		Subcommands: []*cli.Command{
			{
				Name:      "status",
				Usage:     "each group's rules and hosts, the hosts the pending work needs, and the last decisions with their reasons",
				UsageText: "clusterd autoscale status [-o json]",
				Description: "The leader evaluates the groups of its --autoscale file; this shows what it decided last.\n" +
					"SIZE is ready and booting hosts against min..max, IDLE ready hosts running nothing against\n" +
					"min..max idle, SHORTFALL the hosts of the group's shape the pending tasks need.",
				Flags: clientFlags(false),
				Action: clientAction(0, "", func(c *cli.Context, env *clientEnv) error {
					st, err := env.c.Autoscale(c.Context)
					if err != nil {
						return err
					}
					if env.json {
						return printJSON(env.stdout, st)
					}
					return writeAutoscale(env.stdout, st, time.Now())
				}),
			},
		},
	}
}

func writeAutoscale(w io.Writer, st api.AutoscaleStatus, now time.Time) error {
	if !st.Enabled {
		_, err := fmt.Fprintln(w, "Autoscaling is off: the leader has no --autoscale file (see docs/OPERATIONS.md).")
		return err
	}
	mode := "on"
	if st.DryRun {
		mode = "dry run (decisions are reported, nothing is done)"
	}
	fmt.Fprintf(w, "Autoscaling: %s; groups by attribute %q, evaluated every %gs\n\n", mode, st.Attribute, st.IntervalSeconds)
	tw := newTable(w)
	fmt.Fprintln(tw, "GROUP\tSIZE\tREADY\tBOOTING\tDRAINING\tDOWN\tIDLE\tSHORTFALL\tACTUATOR")
	for _, g := range st.Groups {
		r := g.Rules
		fmt.Fprintf(tw, "%s\t%d (%d..%d)\t%d\t%d\t%d\t%d\t%d (%d..%d)\t%d\t%s\n", g.Name, g.Ready+g.Booting, r.MinSize, r.MaxSize,
			g.Ready, g.Booting, g.Draining, g.Down, g.Idle, r.MinIdle, r.MaxIdle, g.Shortfall, dash(g.Actuator))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, g := range st.Groups {
		if g.Last.Kind != "" {
			fmt.Fprintf(w, "%s now: %s: %s\n", g.Name, g.Last.Kind, g.Last.Reason)
		}
	}
	if len(st.Decisions) == 0 {
		_, err := fmt.Fprintln(w, "\nNo decision has done anything yet in this leadership.")
		return err
	}
	fmt.Fprintln(w, "\nLast decisions:")
	tw = newTable(w)
	fmt.Fprintln(tw, "WHEN\tGROUP\tDECISION\tCOUNT\tHOSTS\tREASON")
	for _, d := range st.Decisions {
		kind := d.Kind
		if d.DryRun {
			kind += " (dry run)"
		}
		reason := d.Reason
		if d.Error != "" {
			reason += " — FAILED: " + d.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", agoText(d.At, now), d.Group, kind, d.Count, dash(strings.Join(d.Hosts, ",")), reason)
	}
	return tw.Flush()
}
