package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// jobList is the JSON output of job list and dlq list (JobService.ListJobs).
type jobList struct {
	Jobs       []cli.Job `json:"jobs"`
	NextCursor string    `json:"nextCursor,omitempty"`
}

// deleted is the JSON output of job delete.
type deleted struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func (a *app) jobCmd() *cobra.Command {
	return a.group("job", "Inspect and manage jobs",
		a.jobGetCmd(), a.jobListCmd(),
		a.jobActionCmd("cancel", "Cancel a job that is not finished (a running job's handler is cancelled)",
			func(ctx context.Context, c *troika.Client, id troika.JobID) (*troika.JobRow, error) {
				return c.CancelJob(ctx, id)
			}),
		a.jobActionCmd("retry", "Make a dead job available again with a fresh attempt budget",
			func(ctx context.Context, c *troika.Client, id troika.JobID) (*troika.JobRow, error) {
				return c.RetryJob(ctx, id)
			}),
		a.jobDeleteCmd(),
	)
}

func (a *app) jobGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a job: fields, state, attempts and errors",
		Args:  args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			id, err := troika.ParseJobID(args[0])
			if err != nil {
				return err
			}
			var j *troika.JobRow
			if err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				j, err = c.GetJob(cmd.Context(), id)
				return err
			}); err != nil {
				return err
			}
			return a.printJob(j)
		}),
	}
}

func (a *app) jobListCmd() *cobra.Command {
	var (
		p      troika.ListParams
		state  cli.StateValue
		cursor string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, oldest first, filtered and paged",
		Example: `  troika job list --state dead --queue emails
  troika job list --kind email.send --limit 20 --desc --json`,
		Args: args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			p.State = state.S
			if cursor != "" {
				id, err := troika.ParseJobID(cursor)
				if err != nil {
					return cli.Usagef("--cursor: %s", cli.Message(err))
				}
				p.Cursor = id
			}
			return a.listJobs(cmd, p)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&p.Queue, "queue", "", "only jobs of this queue")
	f.Var(&state, "state", "only jobs in this state (scheduled, available, running, retryable, completed, dead, cancelled)")
	f.StringVar(&p.Kind, "kind", "", "only jobs of this kind")
	f.StringVar(&p.Tag, "tag", "", "only jobs with this tag")
	f.IntVar(&p.Limit, "limit", 100, "at most this many jobs (up to 10,000)")
	f.StringVar(&cursor, "cursor", "", "start after this job id (the next cursor of the previous page)")
	f.BoolVar(&p.Desc, "desc", false, "newest first")
	return cmd
}

// listJobs prints one page of jobs as a table or JSON; for people, the
// cursor of the next page goes to stderr so the table stays clean.
func (a *app) listJobs(cmd *cobra.Command, p troika.ListParams) error {
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
		fmt.Fprintln(a.stderr, "no jobs")
		return nil
	}
	if err := printJobTable(a.stdout, page.Jobs); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(a.stderr, "more jobs: add --cursor %s\n", next)
	}
	return nil
}

// jobActionCmd is a command that changes one job and prints it.
func (a *app) jobActionCmd(name, short string, act func(context.Context, *troika.Client, troika.JobID) (*troika.JobRow, error)) *cobra.Command {
	return &cobra.Command{
		Use:   name + " ID",
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			id, err := troika.ParseJobID(args[0])
			if err != nil {
				return err
			}
			var j *troika.JobRow
			if err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				j, err = act(cmd.Context(), c, id)
				return err
			}); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(cli.JobView(j))
			}
			fmt.Fprintf(a.stdout, "job %s is now %s\n", j.ID, j.State)
			return nil
		}),
	}
}

func (a *app) jobDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a job that is not running (cancel it first)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			id, err := troika.ParseJobID(args[0])
			if err != nil {
				return err
			}
			if err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				return c.DeleteJob(cmd.Context(), id)
			}); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(deleted{ID: id.String(), Deleted: true})
			}
			fmt.Fprintf(a.stdout, "job %s deleted\n", id)
			return nil
		}),
	}
}
