package engine

import (
	"context"
	"sync"
	"time"

	"github.com/troikahq/troika/store"
)

// MaintenanceLeaderName is the name of the leader lease that elects the
// process running maintenance.
const MaintenanceLeaderName = "troika.maintenance"

// Elector holds (takes and renews) a named leader lease for one holder.
// Pass acquires or renews it; IsLeader says whether the lease is held now.
// It is safe for concurrent use. Run Pass periodically (a Service) at an
// interval well below TTL.
type Elector struct {
	st     store.Store
	name   string
	holder string
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	expires time.Time // zero when not leader
}

// NewElector returns an Elector for the lease name held as holder for ttl
// (> 0) at a time, with the clock now.
func NewElector(st store.Store, name, holder string, ttl time.Duration, now func() time.Time) *Elector {
	return &Elector{st: st, name: name, holder: holder, ttl: ttl, now: now}
}

// Pass takes the lease if it is free or expired, or renews it if held.
func (e *Elector) Pass(ctx context.Context) error {
	l, err := e.st.LeaderAcquire(ctx, &store.LeaderAcquireParams{Name: e.name, Holder: e.holder, TTL: e.ttl, Now: e.now()})
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		return err // keep what we had: it lapses by itself at expires
	}
	if l.Holder == e.holder {
		e.expires = l.Expires
	} else {
		e.expires = time.Time{}
	}
	return nil
}

// IsLeader reports whether this holder held the lease at its last Pass and
// the lease has not expired since.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	exp := e.expires
	e.mu.Unlock()
	return !exp.IsZero() && e.now().Before(exp)
}

// Release gives the lease up (if held) so another process can take over at
// once.
func (e *Elector) Release(ctx context.Context) error {
	e.mu.Lock()
	e.expires = time.Time{}
	e.mu.Unlock()
	return e.st.LeaderRelease(ctx, &store.LeaderReleaseParams{Name: e.name, Holder: e.holder})
}
