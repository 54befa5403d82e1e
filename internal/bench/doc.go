// Package bench is the benchmark harness behind `troika bench`: the drain,
// steady and idle workloads of the peer harness (shared/bench/peers, which
// runs the same workloads against River, Asynq and Faktory), re-implemented
// over Troika's public Go SDK (troika.Open, EnqueueMany, Enqueue, NewWorker,
// Handle), so that its figures are the figures a user gets.
//
// Workloads and parameters are the peer harness's:
//   - drain: insert Jobs jobs in EnqueueMany batches of Batch (timed: the
//     bulk insert rate), then start a Worker of Concurrency and time until the
//     store reports all of them completed; every payload's sequence number
//     must be seen exactly once (lost: never seen; duplicates: seen again).
//   - steady: a Worker of Concurrency running, Producers goroutines each
//     doing single Enqueue calls in a closed loop for Duration; throughput
//     counts completions inside the window; latency is handler start minus
//     the enqueue time carried in the payload; the run then waits for the
//     tail so no slow job drops out of the sample.
//   - idle: IdleJobs jobs, one at a time, a random pause in
//     [IdleGapMin, IdleGapMax) before each; latency enqueue → handler start.
//
// Every job carries a 64-byte JSON payload {"ts":…,"seq":…,"pad":"xx…"}.
// Percentiles are nearest-rank. Each workload runs on a fresh data
// directory.
//
// Imports: the root package only (as a user would).
package bench
