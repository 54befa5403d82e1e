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
// cluster_pg_test.go is the cluster kill test on PostgreSQL: two server
// nodes (the test binary re-executed as `troika server --postgres URL
// --postgres-schema S`, built as server.Run builds it) and three worker
// processes (two over troika.Dial, one per node, and one on PostgreSQL
// directly) share one schema while producers here enqueue through the
// nodes under unique keys, resending a failed batch to the other node. A
// node is killed with SIGKILL every 3-6 s, alternating, and restarted on
// its port (one kill in three keeps it down 2-5 s, past the workers' lease
// TTL). After a drain it checks that every acknowledged enqueue completed
// under its acknowledged id, no job is stored twice, nothing is running,
// every duplicate run was in flight at a kill of its worker's node (at most
// 2 x Concurrency per kill), and, from a trigger-kept history of the
// leaders row, that epochs rise with every new holder and no two leases
// overlap (TROIKA_CLUSTER_PG_SECONDS, default 40). TestClusterChecks shows
// those checks fail on each fault they look for.
//
// It has no non-test code; this file exists for the package comment.
// Imports: the root package (as a user would); the PostgreSQL tests also
// use pgx to create and drop their schema and to read the leader row, and
// the cluster test's server process uses server and store/postgres to run
// the server as server.Run does.
package crashtest
