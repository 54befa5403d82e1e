package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika/internal/bench"
	"github.com/troikahq/troika/internal/cli"
)

func (a *app) benchCmd() *cobra.Command {
	var (
		backend  string
		workload string
		pgURL    string
		cpuProf  string
		p        = bench.DefaultParams()
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency (drain, steady, idle workloads)",
		Long: `Measure Troika with the workloads of the peer harness (shared/bench/peers),
through the public Go SDK, each on a fresh data directory:

  drain   insert --jobs jobs in EnqueueMany batches of --batch (timed), then time a
          worker of --concurrency draining them until the store reports all completed
  steady  --producers goroutines doing single durable Enqueue calls in a closed loop
          for --duration while a worker of --concurrency runs
  idle    --idle-jobs jobs one at a time, a random 0.1-1.6 s pause before each
  fanout  (by name, not part of "all") --producers publishers of 100-event batches to
          a topic with 5 subscriptions, one worker each, for --duration: deliveries/s;
          closed loop (at most --fanout-backlog deliveries published and not yet
          handled), or paced to --fanout-rate events/s in all;
          then one event every 0.5 ms to 3 subscriptions: publish -> handler start

Latency is enqueue -> handler start (the enqueue time travels in the 64-byte
payload), nearest-rank percentiles. lost and duplicates count sequence numbers
never handled or handled more than once. With --json, one JSON object per
workload per line. The data directories are temporary unless --data is given
(then each workload makes a fresh subdirectory there and keeps it).`,
		Example: `  troika bench --workload drain --jobs 100000 --json
  troika bench --workload steady --duration 20s
  troika bench --workload all --json > bench.jsonl`,
		Args: args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if err := bench.CheckBackend(backend); err != nil {
				if errors.Is(err, bench.ErrBackendUnavailable) {
					return cli.Failf("%v", err)
				}
				return cli.Usage(err)
			}
			workloads, err := bench.ParseWorkloads(workload)
			if err != nil {
				return cli.Usage(err)
			}
			if err := p.Validate(); err != nil {
				return cli.Usage(err)
			}
			o := bench.Options{Backend: backend, Params: p, Logger: a.logger(), PostgresURL: pgURL}
			if backend == bench.BackendRemote && cmd.Flags().Changed("server") {
				o.ServerURL, o.Token = a.server, a.token
			}
			if cmd.Flags().Changed("data") {
				o.Dir = a.dataDir
			}
			if a.stderrTerminal() {
				o.Progress = func(phase string, total int64, done func() int64) func() {
					return cli.StartProgress(a.stderr, phase, total, done)
				}
			}
			if cpuProf != "" {
				stop, err := startCPUProfile(cpuProf)
				if err != nil {
					return cli.Failf("%v", err)
				}
				defer stop()
			}
			return bench.Run(cmd.Context(), o, workloads, func(r *bench.Result) error {
				if a.json {
					b, err := json.Marshal(r)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(a.stdout, "%s\n", b)
					return err
				}
				_, err := fmt.Fprintln(a.stdout, r.Summary())
				return err
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&backend, "backend", bench.BackendEmbedded, "embedded, postgres or remote (over the API: --server, or a server started in-process)")
	f.StringVar(&pgURL, "postgres", "", "postgres backend: connection URL (default $TROIKA_POSTGRES_URL)")
	f.StringVar(&workload, "workload", "all", "drain, steady, idle, fanout, all (drain, steady, idle), or a comma list")
	f.IntVar(&p.Jobs, "jobs", p.Jobs, "drain: jobs inserted then drained")
	f.IntVar(&p.Batch, "batch", p.Batch, "drain: jobs per EnqueueMany call")
	f.IntVar(&p.Concurrency, "concurrency", p.Concurrency, "drain, steady: worker concurrency")
	f.IntVar(&p.Producers, "producers", p.Producers, "steady: producer goroutines")
	f.DurationVar(&p.Duration, "duration", p.Duration, "steady: producing window")
	f.IntVar(&p.FanoutRate, "fanout-rate", p.FanoutRate, "fanout: events/s offered in all, paced (0: closed-loop publishers)")
	f.IntVar(&p.FanoutBacklog, "fanout-backlog", p.FanoutBacklog, "fanout, closed loop: publishers wait while more deliveries than this are unhandled (0: no bound)")
	f.IntVar(&p.IdleJobs, "idle-jobs", p.IdleJobs, "idle: jobs, one at a time")
	f.IntVar(&p.IdleConcurrency, "idle-concurrency", p.IdleConcurrency, "idle: worker concurrency (0: the SDK default)")
	f.DurationVar(&p.IdleGapMin, "idle-gap-min", p.IdleGapMin, "idle: min pause before each job")
	f.DurationVar(&p.IdleGapMax, "idle-gap-max", p.IdleGapMax, "idle: max pause before each job")
	f.DurationVar(&p.Settle, "settle", p.Settle, "steady, idle: pause after starting the worker before timing")
	f.DurationVar(&p.Timeout, "timeout", p.Timeout, "give up on a phase after this long")
	f.StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	return cmd
}

// startCPUProfile starts a CPU profile written to path and returns the
// function that stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
