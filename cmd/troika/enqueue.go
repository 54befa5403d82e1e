package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// defaultUniqueFor is the dedupe window of --unique-key without --unique-for.
const defaultUniqueFor = 24 * time.Hour

// enqueueResult is the JSON output of enqueue (JobService.Enqueue's response).
type enqueueResult struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Duplicate bool   `json:"duplicate"`
}

func (a *app) enqueueCmd() *cobra.Command {
	var (
		queue       string
		priority    int
		delay       cli.DurationValue
		runAt       cli.TimeValue
		maxAttempts int
		timeout     cli.DurationValue
		uniqueKey   string
		uniqueFor   cli.DurationValue
		tags        []string
		meta        cli.MetaValue
	)
	cmd := &cobra.Command{
		Use:   "enqueue KIND [ARGS_JSON]",
		Short: "Enqueue a job",
		Long: `Enqueue a job of the given kind with JSON arguments (default {}; "-" reads
them from standard input). Prints the job's id, its state and whether a
--unique-key matched an existing job (duplicate: then the id is that job's).`,
		Example: `  troika enqueue email.send '{"to":"ada@example.com"}' --queue emails
  troika enqueue report.generate --delay 5m --tag nightly --meta tenant=acme
  troika enqueue welcome.send '{"user":42}' --unique-key welcome:42 --unique-for 24h --json`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			raw := json.RawMessage("{}")
			if len(args) == 2 {
				var err error
				if raw, err = a.jsonArgs(args[1]); err != nil {
					return err
				}
			}
			f := cmd.Flags()
			var opts []troika.EnqueueOption
			if f.Changed("queue") {
				opts = append(opts, troika.Queue(queue))
			}
			if f.Changed("priority") {
				opts = append(opts, troika.Priority(priority))
			}
			if f.Changed("delay") {
				opts = append(opts, troika.Delay(delay.D))
			}
			if f.Changed("run-at") {
				opts = append(opts, troika.RunAt(runAt.T))
			}
			if f.Changed("max-attempts") {
				opts = append(opts, troika.MaxAttempts(maxAttempts))
			}
			if f.Changed("timeout") {
				opts = append(opts, troika.Timeout(timeout.D))
			}
			switch {
			case f.Changed("unique-key"):
				window := defaultUniqueFor
				if f.Changed("unique-for") {
					window = uniqueFor.D
				}
				opts = append(opts, troika.Unique(uniqueKey, window))
			case f.Changed("unique-for"):
				return cli.Usagef("--unique-for needs --unique-key")
			}
			if len(meta.M) > 0 {
				opts = append(opts, troika.Metadata(meta.M))
			}
			if len(tags) > 0 {
				opts = append(opts, troika.Tags(tags...))
			}
			var res *troika.EnqueueResult
			err := a.withClient(cmd.Context(), false, func(c *troika.Client) error {
				var err error
				res, err = c.Enqueue(cmd.Context(), troika.RawArgs{KindName: args[0], JSON: raw}, opts...)
				return err
			})
			if err != nil {
				return err
			}
			out := enqueueResult{ID: res.ID.String(), State: string(res.State), Duplicate: res.Duplicate}
			if a.json {
				return a.printJSON(out)
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "ID\tSTATE\tDUPLICATE")
			fmt.Fprintf(tw, "%s\t%s\t%t\n", out.ID, out.State, out.Duplicate)
			return tw.Flush()
		}),
	}
	f := cmd.Flags()
	f.StringVar(&queue, "queue", troika.DefaultQueue, "queue name ([a-z0-9._-], up to 64 bytes)")
	f.IntVar(&priority, "priority", troika.DefaultPriority, "priority, 1 (most urgent) to 4")
	f.Var(&delay, "delay", "run no earlier than this long from now (e.g. 30s, 5m, 1d)")
	f.Var(&runAt, "run-at", "run no earlier than this time (RFC 3339, local \"2026-11-25 10:00\", or +5m)")
	f.IntVar(&maxAttempts, "max-attempts", troika.DefaultMaxAttempts, "attempts before the job is dead")
	f.Var(&timeout, "timeout", "how long one attempt may run (default: the worker's)")
	f.StringVar(&uniqueKey, "unique-key", "", "deduplicate enqueues with this key within --unique-for")
	f.Var(&uniqueFor, "unique-for", "dedupe window of --unique-key (default 24h)")
	f.StringArrayVar(&tags, "tag", nil, "tag the job (repeatable)")
	f.Var(&meta, "meta", "metadata key=value (repeatable)")
	cmd.MarkFlagsMutuallyExclusive("delay", "run-at")
	return cmd
}

// maxStdinArgs bounds what "-" reads from standard input. It is far above
// any payload limit a server is likely to have; the Client then applies the
// real limit (Config.MaxPayloadBytes, 1 MiB by default) with its own error.
const maxStdinArgs = 64 << 20

// jsonArgs returns the JSON arguments given on the command line, or read
// from standard input when arg is "-". Invalid JSON, or input longer than
// maxStdinArgs, is an error that names the problem; nothing is sent.
func (a *app) jsonArgs(arg string) (json.RawMessage, error) {
	b := []byte(arg)
	if arg == "-" {
		var err error
		if b, err = io.ReadAll(io.LimitReader(a.stdin, maxStdinArgs+1)); err != nil {
			return nil, fmt.Errorf("read args from stdin: %w", err)
		}
		if len(b) > maxStdinArgs {
			return nil, cli.Failf("invalid args: standard input holds more than %d MiB", maxStdinArgs>>20)
		}
	}
	if !json.Valid(b) {
		var probe any
		err := json.Unmarshal(b, &probe)
		return nil, cli.Failf("invalid args: not valid JSON: %v", err)
	}
	return b, nil
}
