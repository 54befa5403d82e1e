// Package crashtest holds the kill -9 crash test of the embedded store: a
// real child process (this package's test binary, re-executed) enqueues and
// works jobs while recording every acknowledged enqueue and every handler
// run; the parent kills it with SIGKILL at random points, restarts it, and at
// the end checks that no acknowledged job was lost, none is stuck running,
// and the only duplicate runs are of jobs that were in flight at a kill.
//
// It has no non-test code; this file exists for the package comment.
// Imports: the root package only (as a user would).
package crashtest
