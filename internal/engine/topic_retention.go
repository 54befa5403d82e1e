package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/troikahq/troika/store"
)

// TopicRetention deletes topic events published longer ago than their
// topic's retention (store.DefaultTopicRetention unless the topic says
// otherwise) and counts every deletion in Counters.EventsTrimmed. Trims
// never touch deliveries: those are jobs, kept by job retention. On a
// store without topics (not a store.TopicStore) a pass does nothing.
type TopicRetention struct {
	st       store.Store
	now      func() time.Time
	counters *Counters
	log      *slog.Logger
}

// NewTopicRetention returns a TopicRetention service's pass holder.
func NewTopicRetention(st store.Store, now func() time.Time, c *Counters, log *slog.Logger) *TopicRetention {
	return &TopicRetention{st: st, now: now, counters: c, log: log}
}

const trimPageLimit = 10_000

// Pass trims every topic whose oldest event is past retention (up to
// maxPages pages of 10,000 events per topic per pass).
func (r *TopicRetention) Pass(ctx context.Context) error {
	ts, ok := r.st.(store.TopicStore)
	if !ok {
		return nil
	}
	now := r.now()
	topics, err := ts.TopicList(ctx, &store.TopicListParams{Now: now})
	if err != nil {
		return err
	}
	for _, t := range topics {
		before := now.Add(-firstPositive(t.Retention, store.DefaultTopicRetention))
		if t.Events == 0 || !t.OldestEventAt.Before(before) {
			continue
		}
		for range maxPages {
			n, err := ts.TopicTrim(ctx, &store.TopicTrimParams{Topic: t.Name, Before: before, Limit: trimPageLimit})
			if n > 0 {
				r.counters.EventsTrimmed.Add(int64(n))
				r.log.Debug("troika: topic retention trimmed events", "topic", t.Name, "count", n)
			}
			if err != nil {
				return err
			}
			if n < trimPageLimit {
				break
			}
		}
	}
	return nil
}
