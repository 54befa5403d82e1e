package embedded

import (
	"testing"

	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/storetest"
)

// TestConformance runs the whole store conformance suite (jobs, schedules,
// ordering keys, topics).
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.RunAll(t, openTest)
}

// openTest opens a fresh store in a temporary directory for one test.
func openTest(t *testing.T) store.Store {
	s, err := Open(t.TempDir(), Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
