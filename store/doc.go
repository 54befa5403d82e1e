// Package store is Troika's storage seam: the Store interface every backend
// implements, the Job record and its states, the *Params structs of every
// method, and the seam's error vocabulary (sentinels and typed errors that
// match them with errors.Is).
//
// The contract is written on Store and enforced by the conformance suite in
// store/storetest, which every backend runs with one call. Policy (back-off,
// dead-lettering, validation, retention periods, cron) lives above the seam in
// internal/engine; a backend stores and indexes, atomically and durably.
//
// Imports: the standard library and github.com/google/uuid only. Backends
// (store/embedded, store/postgres) import this package, never the reverse.
package store
