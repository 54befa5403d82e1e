// Package troikatest has helpers for users' own tests of code that
// enqueues and works Troika jobs: a throwaway embedded client, assertions
// on what was enqueued (RequireEnqueued, RequireNotEnqueued), and working
// jobs inline on the test's goroutine (WorkOne, WorkAll).
//
// The helpers talk to a real store through the public API, so a test sees
// exactly what production code would: validation, unique keys, delays,
// retries. They report failures through testing.TB and never panic on a
// failed expectation.
//
// Imports: the root package troika and the standard library only.
package troikatest
