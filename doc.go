// Package troika is the Go SDK of Troika: durable job queues, a message
// queue (topics whose every subscription gets its own durable copy of each
// event) and a scheduler, over an embedded store (Open), a troika server
// (Dial) or PostgreSQL (OpenPostgres, OpenPostgresURL). A Client enqueues,
// publishes and administers; a Worker runs registered handlers of typed
// jobs (Job[T], whose args type names a stable Kind).
//
// # What lives where
//
//   - client*.go: Client, enqueue and the admin calls; dial.go, postgres.go:
//     the constructors for the server and PostgreSQL; options*.go: the
//     enqueue options; errors.go: the sentinels and error types; job.go,
//     jobctx.go: Job[T] and a handler's context.
//   - worker.go: Worker, WorkerConfig and Handle; worker_impl.go: handler
//     registration and per-kind policy; worker_run.go: Run, the handler
//     pool and shutdown; worker_claim.go: the claim loop (claims in flight,
//     claim-ahead); worker_session.go: heartbeats, timeouts and hand-backs;
//     worker_ack.go: the batching acker; worker_task.go: one attempt;
//     worker_registry.go: the leased tasks; worker_one.go: WorkOne.
//   - schedule*.go: cron and interval schedules; topic*.go: topics,
//     subscriptions and publish.
//
// Concurrency: Client and Worker are safe for concurrent use. Lock order in
// the worker (docs/architecture.md): registry.mu and acker.mu are leaves,
// never held across a store call.
//
// Imports: the standard library, store and its backends (store/embedded,
// store/postgres), internal/engine, internal/remote, internal/sdkhook and
// pgx (for OpenPostgres and EnqueueTx). Never server or cmd.
package troika
