// Package storetest is the conformance suite of the storage seam: the
// executable definition of the contract written on store.Store. Every
// backend (embedded, PostgreSQL, and any later one) runs it once from its own
// tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mybackend.Open(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { _ = s.Close() })
//			return s
//		})
//	}
//
// open must return a fresh, empty store for one test and register its
// cleanup with t.Cleanup; the suite calls it once per subtest, and the
// subtests of a group run in parallel (t.Parallel), so open must be safe to
// call concurrently. The suite calls Close itself in some subtests, so the
// cleanup must tolerate a store that is already closed (Close is safe to call
// more than once; a second Close may return nil or ErrClosed).
//
// How the suite is written:
//
//   - It uses only the store.Store interface and the store package's types
//     and errors; nothing backend-specific.
//   - It drives time only through the Now fields of params, starting from a
//     fixed instant (2030-01-01T00:00:00Z) and moving forward explicitly, so
//     it never sleeps and never depends on the wall clock. Waiting for a
//     JobSubscribe wake-up uses a select with a generous deadline.
//   - Times are compared after truncation to microseconds (PostgreSQL keeps
//     microseconds); the suite never passes sub-microsecond instants.
//   - Where the contract leaves a choice open (for example, whether Max = 0
//     is an empty claim or ErrInvalidArgument), the suite accepts every
//     answer the contract allows and checks only what it states.
//
// Subtests are named Group/Case (for example Fencing/StaleToken), so a
// backend can run one with go test -run 'Conformance/Fencing/StaleToken'.
// LimitCap inserts ten thousand jobs and is skipped with -short.
//
// What the suite cannot check through the interface: durability across a
// crash or reopen (open only returns fresh stores), the store's own clock
// (Now left zero), and wake-ups for jobs coming due in real time. Backends
// test those themselves.
package storetest
