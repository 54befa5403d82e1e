package postgres

import (
	"testing"

	"github.com/troikahq/troika/store"
	"github.com/troikahq/troika/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, Options{})
	})
}
