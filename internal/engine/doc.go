// Package engine holds Troika's queue policy: the rules that are the same on
// every storage backend and that the store deliberately does not know.
//
// What lives here:
//
//   - Validation of enqueue input and its conversion to store.InsertJob with
//     defaults (validate.go): every rejection is a *store.InvalidArgumentError
//     naming the field in the wire's spelling ("queue", "jobs[3].uniqueKey").
//
//   - Back-off (backoff.go): the default retry policy, attempt^4 s + 1 s with
//     ±10% jitter, capped.
//
//   - Attempt outcomes (outcome.go): how a failed attempt becomes a retry or
//     a dead job, shared by workers and the lease rescuer.
//
//   - Maintenance services (service.go, leader.go, rescuer.go, promoter.go,
//     retention.go, maintenance.go): periodic passes run by exactly one
//     process per store, chosen with the store's leader lease.
//
//   - The scheduler (scheduler*.go): validation of schedules, the fire
//     planner (misfire, overlap, jitter) and the leader-gated firing service.
//
//   - Topics (topic*.go): validation of topics, subscriptions and ordering
//     keys, and the leader-gated retention trimmer of events.
//
// Imports: the standard library, the store package and internal/cron (the
// cron-spec parser). Never the root package (which imports this one) and
// never a backend: the engine talks to the store interfaces and nothing
// else. Its tests run against the real embedded store on an in-memory
// filesystem.
package engine
