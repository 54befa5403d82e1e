package postgres

import (
	"testing"

	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/storetest"
)

func TestScheduleConformance(t *testing.T) {
	storetest.RunSchedules(t, func(t *testing.T) store.Store {
		return openTest(t, Options{})
	})
}
