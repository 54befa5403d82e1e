// Package postgres is Troika's PostgreSQL backend: a store.Store on pgx v5
// (pgxpool) that N processes share. Claims are one statement with FOR
// UPDATE SKIP LOCKED that commits without waiting for its WAL flush
// (Options.SyncClaims makes it wait), acks and heartbeats one statement
// per batch (unnest arrays; ordered jobs add their line locks and
// hand-over) fenced by (state, attempt, lease token) in the WHERE clause,
// wake-ups travel by LISTEN/NOTIFY with a poll fallback, and a leader row
// with an epoch elects the node that runs maintenance.
//
// The schema lives in its own PostgreSQL schema (default "troika") and is
// created by embedded, versioned migrations (Migrate, MigrationSQL) applied
// under an advisory lock, so many nodes may boot at once.
//
// Ordering keys (ordering.go) keep one claimable holder per (queue, key)
// line, handed on in the transaction that finishes it; topics and
// subscriptions (topic.go) store events in topic_events and deliver them
// as ordinary jobs in the publishing transaction.
//
// Errors: the store's sentinels (store.ErrNotFound, ErrLeaseLost, …) as the
// contract says; a database that cannot be reached, restarts, or is read
// only gives an *UnavailableError (matching ErrUnavailable) after the
// store's own bounded retries: the call may be retried.
//
// Imports: store, pgx v5 and the standard library. See docs/postgres.md for
// the schema rationale and operations.
package postgres
