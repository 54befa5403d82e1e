package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// printJSON writes v as indented JSON and a newline to stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table returns a tabwriter for aligned columns on w; call Flush.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// localTime formats t for people in the local zone; "-" when zero.
func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// oneLine shortens s to n runes on one line for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printJobTable prints jobs as a table with a header.
func printJobTable(w io.Writer, jobs []*troika.JobRow) error {
	tw := table(w)
	fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tATTEMPT\tPRIORITY\tRUN AT\tCREATED")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\t%s\n", j.ID, j.Kind, j.Queue, j.State,
			j.Attempt, j.MaxAttempts, j.Priority, localTime(j.RunAt), localTime(j.CreatedAt))
	}
	return tw.Flush()
}

// printJobDetail prints one job for people, field per line.
func printJobDetail(w io.Writer, j *troika.JobRow) error {
	tw := table(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", j.ID.String())
	row("Kind", j.Kind)
	row("Queue", j.Queue)
	row("State", string(j.State))
	row("Priority", fmt.Sprint(j.Priority))
	row("Attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts))
	row("Args", oneLine(string(j.Args), 200))
	row("Run at", localTime(j.RunAt))
	row("Created", localTime(j.CreatedAt))
	row("Attempted", localTime(j.AttemptedAt))
	row("Finished", localTime(j.FinishedAt))
	if j.Timeout > 0 {
		row("Timeout", cli.HumanDuration(j.Timeout))
	}
	if j.UniqueKey != "" {
		row("Unique key", fmt.Sprintf("%s (until %s)", j.UniqueKey, localTime(j.UniqueUntil)))
	}
	if len(j.Tags) > 0 {
		row("Tags", strings.Join(j.Tags, ", "))
	}
	if len(j.Metadata) > 0 {
		m := cli.MetaValue{M: j.Metadata}
		row("Metadata", m.String())
	}
	if len(j.Result) > 0 {
		row("Result", oneLine(string(j.Result), 200))
	}
	if j.State == troika.StateRunning {
		row("Lease", fmt.Sprintf("%s until %s", j.LeaseHolder, localTime(j.LeaseDeadline)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(j.Errors) > 0 {
		fmt.Fprintln(w, "Errors:")
		for _, e := range j.Errors {
			fmt.Fprintf(w, "  attempt %d at %s: %s\n", e.Attempt, localTime(e.At), oneLine(e.Message, 500))
			if e.Stack != "" {
				for line := range strings.SplitSeq(strings.TrimRight(e.Stack, "\n"), "\n") {
					fmt.Fprintf(w, "    %s\n", line)
				}
			}
		}
	}
	return nil
}

// printJob prints one job: its JSON view with --json, else the detail view.
func (a *app) printJob(j *troika.JobRow) error {
	if a.json {
		return a.printJSON(cli.JobView(j))
	}
	return printJobDetail(a.stdout, j)
}

// jobViews converts jobs to their JSON views (an empty list, not null).
func jobViews(jobs []*troika.JobRow) []cli.Job {
	out := make([]cli.Job, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, cli.JobView(j))
	}
	return out
}
