// Package crashtest holds the kill -9 crash test of the embedded store: a
// real child process (this package's test binary, re-executed) enqueues and
// works jobs while recording every acknowledged enqueue and every handler
// run; the parent kills it with SIGKILL at random points, restarts it, and at
// the end checks that no acknowledged job was lost, none is stuck running,
// and the only duplicate runs are of jobs that were in flight at a kill.
//
// cron_pg_test.go is the multi-node scheduler test on PostgreSQL: three
// processes share one schema, the maintenance leader is killed with SIGKILL
// every 10-20 s and restarted, and the jobs table must then hold exactly one
// job per (schedule, instant) of the run (TROIKA_CRON_PG_SECONDS, default
// 45).
//
// It has no non-test code; this file exists for the package comment.
// Imports: the root package (as a user would); the PostgreSQL test also
// uses pgx to create and drop its schema and to read the leader row.
package crashtest
