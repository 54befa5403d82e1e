package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// dlqCount is the JSON output of dlq replay and dlq purge.
type dlqCount struct {
	Replayed *int     `json:"replayed,omitempty"`
	Purged   *int     `json:"purged,omitempty"`
	IDs      []string `json:"ids,omitempty"`
}

func (a *app) dlqCmd() *cobra.Command {
	return a.group("dlq", "The dead-letter queue: list, replay and purge dead jobs",
		a.dlqListCmd(), a.dlqReplayCmd(), a.dlqPurgeCmd())
}

func (a *app) dlqListCmd() *cobra.Command {
	var (
		p      troika.ListParams
		cursor string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead jobs with their last error",
		Args:  args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			p.State = troika.StateDead
			if cursor != "" {
				id, err := troika.ParseJobID(cursor)
				if err != nil {
					return cli.Usagef("--cursor: %s", cli.Message(err))
				}
				p.Cursor = id
			}
			if p.Limit < 1 {
				return cli.Usagef("--limit must be at least 1")
			}
			var page *troika.JobPage
			if err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				page, err = c.ListJobs(cmd.Context(), p)
				return err
			}); err != nil {
				return err
			}
			next := ""
			if page.Next != (troika.JobID{}) {
				next = page.Next.String()
			}
			if a.json {
				return a.printJSON(jobList{Jobs: jobViews(page.Jobs), NextCursor: next})
			}
			if len(page.Jobs) == 0 {
				fmt.Fprintln(a.stderr, "no dead jobs")
				return nil
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tATTEMPTS\tFINISHED\tLAST ERROR")
			for _, j := range page.Jobs {
				last := ""
				if n := len(j.Errors); n > 0 {
					last = j.Errors[n-1].Message
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Kind, j.Queue, j.Attempt, j.MaxAttempts,
					localTime(j.FinishedAt), oneLine(last, 80))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(a.stderr, "more dead jobs: add --cursor %s\n", next)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&p.Queue, "queue", "", "only dead jobs of this queue")
	f.StringVar(&p.Kind, "kind", "", "only dead jobs of this kind")
	f.IntVar(&p.Limit, "limit", 100, "at most this many jobs (up to 10,000)")
	f.StringVar(&cursor, "cursor", "", "start after this job id")
	return cmd
}

func (a *app) dlqReplayCmd() *cobra.Command {
	var f troika.DeadFilter
	cmd := &cobra.Command{
		Use:   "replay [ID...]",
		Short: "Make dead jobs available again (all matching the filters, or the given ids)",
		Example: `  troika dlq replay --queue emails --kind email.send
  troika dlq replay 0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00`,
		Args: args(cobra.ArbitraryArgs),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if len(args) > 0 && (fl.Changed("queue") || fl.Changed("kind") || fl.Changed("limit")) {
				return cli.Usagef("give job ids or --queue/--kind/--limit, not both")
			}
			if f.Limit < 0 {
				return cli.Usagef("--limit must not be negative")
			}
			if len(args) > 0 {
				return a.replayIDs(cmd.Context(), args)
			}
			var n int
			if err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				n, err = c.RetryDead(cmd.Context(), f)
				return err
			}); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(dlqCount{Replayed: &n})
			}
			fmt.Fprintf(a.stdout, "replayed %d dead %s\n", n, plural(n, "job", "jobs"))
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Queue, "queue", "", "only dead jobs of this queue")
	fl.StringVar(&f.Kind, "kind", "", "only dead jobs of this kind")
	fl.IntVar(&f.Limit, "limit", 0, "at most this many jobs (0: all)")
	return cmd
}

// replayIDs retries the given dead jobs one by one. Every id is tried; the
// first error decides the exit code.
func (a *app) replayIDs(ctx context.Context, args []string) error {
	ids := make([]troika.JobID, len(args))
	for i, s := range args {
		id, err := troika.ParseJobID(s)
		if err != nil {
			return err
		}
		ids[i] = id
	}
	var (
		done     []string
		firstErr error
	)
	err := a.withClient(ctx, true, func(c *troika.Client) error {
		for _, id := range ids {
			if _, err := c.RetryJob(ctx, id); err != nil {
				fmt.Fprintf(a.stderr, "troika: %s: %s\n", id, cli.Message(err))
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			done = append(done, id.String())
		}
		return nil
	})
	if err != nil {
		return err
	}
	if a.json {
		n := len(done)
		if err := a.printJSON(dlqCount{Replayed: &n, IDs: done}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "replayed %d dead %s\n", len(done), plural(len(done), "job", "jobs"))
	}
	if firstErr != nil {
		return &cli.ExitError{Code: cli.ExitCode(firstErr),
			Err: fmt.Errorf("%d of %d jobs not replayed", len(ids)-len(done), len(ids))}
	}
	return nil
}

func (a *app) dlqPurgeCmd() *cobra.Command {
	var (
		f   troika.DeadFilter
		yes bool
	)
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Delete dead jobs for good (asks first; --yes to skip)",
		Args:  args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var n int
			err := a.withClient(ctx, true, func(c *troika.Client) error {
				if !yes {
					if !a.stdinTerminal() {
						return cli.Failf("refusing to purge without --yes: standard input is not a terminal")
					}
					count, err := countDead(ctx, c, f)
					if err != nil {
						return err
					}
					if count == 0 {
						return nil
					}
					ok, err := a.confirm(fmt.Sprintf("Delete %d dead %s%s for good?", count, plural(count, "job", "jobs"), describeFilter(f)))
					if err != nil {
						return err
					}
					if !ok {
						return cli.Failf("purge cancelled; nothing deleted")
					}
				}
				var err error
				n, err = c.PurgeDead(ctx, f)
				return err
			})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(dlqCount{Purged: &n})
			}
			fmt.Fprintf(a.stdout, "purged %d dead %s\n", n, plural(n, "job", "jobs"))
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Queue, "queue", "", "only dead jobs of this queue")
	fl.StringVar(&f.Kind, "kind", "", "only dead jobs of this kind")
	fl.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// countDead counts the dead jobs a purge with f would delete.
func countDead(ctx context.Context, c *troika.Client, f troika.DeadFilter) (int, error) {
	if f.Kind == "" {
		if f.Queue != "" {
			q, err := c.QueueStats(ctx, f.Queue)
			if err != nil {
				return 0, err
			}
			return int(q.Counts[troika.StateDead]), nil
		}
		qs, err := c.ListQueues(ctx)
		if err != nil {
			return 0, err
		}
		n := 0
		for _, q := range qs {
			n += int(q.Counts[troika.StateDead])
		}
		return n, nil
	}
	n := 0
	p := troika.ListParams{Queue: f.Queue, Kind: f.Kind, State: troika.StateDead, Limit: 10_000}
	for {
		page, err := c.ListJobs(ctx, p)
		if err != nil {
			return 0, err
		}
		n += len(page.Jobs)
		if page.Next == (troika.JobID{}) {
			return n, nil
		}
		p.Cursor = page.Next
	}
}

func describeFilter(f troika.DeadFilter) string {
	var parts []string
	if f.Queue != "" {
		parts = append(parts, "queue "+f.Queue)
	}
	if f.Kind != "" {
		parts = append(parts, "kind "+f.Kind)
	}
	if len(parts) == 0 {
		return " (all queues)"
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// confirm asks a yes/no question on stderr and reads the answer from stdin;
// only "y" or "yes" is a yes.
func (a *app) confirm(question string) (bool, error) {
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
