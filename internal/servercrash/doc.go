// Package servercrash holds the crash tests of the server and its remote
// clients, with real processes (the test binary re-executed as a child):
// a `troika server` killed with SIGKILL and restarted under load, and a
// zombie worker stopped with SIGSTOP past its lease. It has no non-test
// code; it imports the root package, server, store/embedded and gen.
package servercrash
