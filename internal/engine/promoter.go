package engine

import (
	"context"
	"time"

	"github.com/troikahq/troika/store"
)

const promotePageLimit = 10000

// Promoter moves scheduled and retryable jobs whose run time has come to
// available. Claims do not depend on it (they take due jobs directly); it
// keeps states and counts current for people and metrics.
type Promoter struct {
	st       store.Store
	now      func() time.Time
	counters *Counters
}

// NewPromoter returns a Promoter.
func NewPromoter(st store.Store, now func() time.Time, c *Counters) *Promoter {
	return &Promoter{st: st, now: now, counters: c}
}

// Pass promotes every job due now (up to 1,000,000 per pass).
func (p *Promoter) Pass(ctx context.Context) error {
	for range maxPages {
		n, err := p.st.JobPromoteDue(ctx, &store.JobPromoteDueParams{Now: p.now(), Limit: promotePageLimit})
		p.counters.Promoted.Add(int64(n))
		if err != nil || n < promotePageLimit {
			return err
		}
	}
	return nil
}
