package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// queueList is the JSON output of queue list (QueueService.ListQueues).
type queueList struct {
	Queues []cli.Queue `json:"queues"`
}

func (a *app) queueCmd() *cobra.Command {
	return a.group("queue", "Inspect and manage queues",
		a.queueListCmd(), a.queueStatsCmd(),
		a.queuePauseCmd("pause", true), a.queuePauseCmd("resume", false),
		a.queueUpdateCmd(),
	)
}

func (a *app) queueListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List queues with their job counts per state",
		Args:  args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			var qs []*troika.QueueInfo
			if err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				qs, err = c.ListQueues(cmd.Context())
				return err
			}); err != nil {
				return err
			}
			if a.json {
				out := queueList{Queues: make([]cli.Queue, 0, len(qs))}
				for _, q := range qs {
					out.Queues = append(out.Queues, cli.QueueView(q))
				}
				return a.printJSON(out)
			}
			if len(qs) == 0 {
				fmt.Fprintln(a.stderr, "no queues")
				return nil
			}
			return printQueueTable(a, qs)
		}),
	}
}

// printQueueTable prints queues with a column per state.
func printQueueTable(a *app, qs []*troika.QueueInfo) error {
	tw := table(a.stdout)
	fmt.Fprint(tw, "QUEUE\tPAUSED")
	for _, st := range cli.States {
		fmt.Fprintf(tw, "\t%s", upper(string(st)))
	}
	fmt.Fprintln(tw, "\tOLDEST READY")
	for _, q := range qs {
		fmt.Fprintf(tw, "%s\t%s", q.Name, yesNo(q.Paused))
		for _, st := range cli.States {
			fmt.Fprintf(tw, "\t%d", q.Counts[st])
		}
		age := "-"
		if q.OldestAvailableAge > 0 {
			age = cli.HumanDuration(q.OldestAvailableAge.Round(time.Millisecond))
		}
		fmt.Fprintf(tw, "\t%s\n", age)
	}
	return tw.Flush()
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) queueStatsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stats NAME",
		Short: "Show one queue: settings and job counts per state",
		Args:  args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			var q *troika.QueueInfo
			if err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				q, err = c.QueueStats(cmd.Context(), args[0])
				return err
			}); err != nil {
				return err
			}
			return a.printQueue(q)
		}),
	}
}

// printQueue prints one queue: its JSON view, or a detail view.
func (a *app) printQueue(q *troika.QueueInfo) error {
	if a.json {
		return a.printJSON(cli.QueueView(q))
	}
	tw := table(a.stdout)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Queue", q.Name)
	row("Paused", yesNo(q.Paused))
	for _, st := range cli.States {
		row(string(st), fmt.Sprint(q.Counts[st]))
	}
	age := "-"
	if q.OldestAvailableAge > 0 {
		age = cli.HumanDuration(q.OldestAvailableAge.Round(time.Millisecond))
	}
	row("Oldest ready", age)
	row("Completed retention", cli.HumanDuration(q.CompletedRetention))
	row("Dead retention", cli.HumanDuration(q.DeadRetention))
	row("Cancelled retention", cli.HumanDuration(q.CancelledRetention))
	return tw.Flush()
}

func (a *app) queuePauseCmd(name string, pause bool) *cobra.Command {
	short := "Resume a paused queue: workers claim its jobs again"
	if pause {
		short = "Pause a queue: workers stop claiming its jobs (enqueues still succeed)"
	}
	return &cobra.Command{
		Use:   name + " NAME",
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			var q *troika.QueueInfo
			if err := a.withClient(cmd.Context(), false, func(c *troika.Client) error {
				var err error
				if pause {
					err = c.PauseQueue(cmd.Context(), args[0])
				} else {
					err = c.ResumeQueue(cmd.Context(), args[0])
				}
				if err != nil {
					return err
				}
				q, err = c.QueueStats(cmd.Context(), args[0])
				return err
			}); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(cli.QueueView(q))
			}
			state := "resumed"
			if q.Paused {
				state = "paused"
			}
			fmt.Fprintf(a.stdout, "queue %s %s\n", q.Name, state)
			return nil
		}),
	}
}

func (a *app) queueUpdateCmd() *cobra.Command {
	var completed, dead, cancelled cli.DurationValue
	cmd := &cobra.Command{
		Use:     "update NAME",
		Short:   "Change a queue's settings (retention of finished jobs)",
		Example: `  troika queue update emails --completed-retention 1h --dead-retention 30d`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			var u troika.QueueUpdate
			f := cmd.Flags()
			set := func(flag string, v *cli.DurationValue, dst **time.Duration) error {
				if !f.Changed(flag) {
					return nil
				}
				if v.D <= 0 {
					return cli.Usagef("--%s must be positive", flag)
				}
				d := v.D
				*dst = &d
				return nil
			}
			if err := set("completed-retention", &completed, &u.CompletedRetention); err != nil {
				return err
			}
			if err := set("dead-retention", &dead, &u.DeadRetention); err != nil {
				return err
			}
			if err := set("cancelled-retention", &cancelled, &u.CancelledRetention); err != nil {
				return err
			}
			if u == (troika.QueueUpdate{}) {
				return cli.Usagef("nothing to update: give --completed-retention, --dead-retention or --cancelled-retention")
			}
			var q *troika.QueueInfo
			if err := a.withClient(cmd.Context(), false, func(c *troika.Client) error {
				var err error
				q, err = c.UpdateQueue(cmd.Context(), args[0], u)
				return err
			}); err != nil {
				return err
			}
			return a.printQueue(q)
		}),
	}
	f := cmd.Flags()
	f.Var(&completed, "completed-retention", "keep completed jobs this long (e.g. 1h, 7d)")
	f.Var(&dead, "dead-retention", "keep dead jobs this long")
	f.Var(&cancelled, "cancelled-retention", "keep cancelled jobs this long")
	return cmd
}
