package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

func TestServiceLifecycle(t *testing.T) {
	t.Parallel()
	t.Run("RunsAtStartAndStops", func(t *testing.T) {
		t.Parallel()
		passes := make(chan struct{}, 100)
		s := NewService(ServiceConfig{Name: "t", Interval: time.Millisecond, Pass: func(ctx context.Context) error {
			passes <- struct{}{}
			return nil
		}})
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-passes
		<-passes // a second pass after one interval
		s.Stop()
		s.Stop() // idempotent
		if err := s.Start(t.Context()); !errors.Is(err, ErrServiceStarted) {
			t.Fatalf("Start after Stop = %v, want ErrServiceStarted", err)
		}
	})
	t.Run("StartTwice", func(t *testing.T) {
		t.Parallel()
		s := NewService(ServiceConfig{Interval: time.Hour, Pass: func(context.Context) error { return nil }})
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer s.Stop()
		if err := s.Start(t.Context()); !errors.Is(err, ErrServiceStarted) {
			t.Fatalf("second Start = %v", err)
		}
	})
	t.Run("StopCancelsPass", func(t *testing.T) {
		t.Parallel()
		entered := make(chan struct{})
		s := NewService(ServiceConfig{Interval: time.Hour, Pass: func(ctx context.Context) error {
			close(entered)
			<-ctx.Done()
			return ctx.Err()
		}})
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-entered
		s.Stop() // returns only once the pass has returned
	})
	t.Run("StopBeforeStart", func(t *testing.T) {
		t.Parallel()
		s := NewService(ServiceConfig{Interval: time.Hour, Pass: func(context.Context) error { return nil }})
		s.Stop()
		if err := s.Start(t.Context()); !errors.Is(err, ErrServiceStarted) {
			t.Fatalf("Start after Stop = %v", err)
		}
	})
	t.Run("SkipFirst", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		s := NewService(ServiceConfig{Interval: time.Hour, SkipFirst: true, Pass: func(context.Context) error { n.Add(1); return nil }})
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.Stop()
		if n.Load() != 0 {
			t.Fatalf("%d passes with SkipFirst and an hour's interval", n.Load())
		}
	})
}

func TestRescuer(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second
	t.Run("RetryWithBackoff", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.insert(t, "k", JobOptions{})
		c := b.claim(t, 1, ttl)[0]
		var counters Counters
		r := NewRescuer(b.st, b.clock.Now, func(int) time.Duration { return time.Minute }, &counters, b.log)
		b.clock.Advance(ttl) // deadline == now: not yet expired
		if err := r.Pass(b.ctx); err != nil || counters.LeasesRescued.Load() != 0 {
			t.Fatalf("Pass at the deadline: %v, rescued %d", err, counters.LeasesRescued.Load())
		}
		b.clock.Advance(time.Millisecond)
		if err := r.Pass(b.ctx); err != nil {
			t.Fatal(err)
		}
		got := b.get(t, j.ID)
		if got.State != store.StateRetryable || !got.RunAt.Equal(b.clock.Now().Add(time.Minute)) || got.Attempt != 1 ||
			len(got.Errors) != 1 || !strings.HasPrefix(got.Errors[0].Message, "lease expired") || got.Errors[0].Attempt != 1 {
			t.Fatalf("rescued job = %+v", got)
		}
		if counters.LeasesRescued.Load() != 1 {
			t.Fatalf("LeasesRescued = %d", counters.LeasesRescued.Load())
		}
		// The late worker's ack is refused.
		errs, err := b.st.JobAckMany(b.ctx, &store.JobAckManyParams{Acks: []store.JobAck{{Lease: c.Lease(), Outcome: store.AckComplete}}, Now: b.clock.Now()})
		if err != nil || !errors.Is(errs[0], store.ErrLeaseLost) {
			t.Fatalf("late ack = %v, %v; want ErrLeaseLost", errs, err)
		}
	})
	t.Run("DeadWhenExhausted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.insert(t, "k", JobOptions{MaxAttempts: 1, HasMaxAttempts: true})
		b.claim(t, 1, ttl)
		var counters Counters
		b.clock.Advance(time.Hour)
		if err := NewRescuer(b.st, b.clock.Now, nil, &counters, b.log).Pass(b.ctx); err != nil {
			t.Fatal(err)
		}
		got := b.get(t, j.ID)
		if got.State != store.StateDead || len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Message, "attempts exhausted") {
			t.Fatalf("job = %+v", got)
		}
	})
	t.Run("LateAckWins", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		j := b.insert(t, "k", JobOptions{})
		c := b.claim(t, 1, ttl)[0]
		b.clock.Advance(time.Hour)
		// The worker acks after expiry but before the rescuer's pass: its
		// ack stands and the rescuer changes nothing.
		errs, err := b.st.JobAckMany(b.ctx, &store.JobAckManyParams{Acks: []store.JobAck{{Lease: c.Lease(), Outcome: store.AckComplete}}, Now: b.clock.Now()})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
		var counters Counters
		if err := NewRescuer(b.st, b.clock.Now, nil, &counters, b.log).Pass(b.ctx); err != nil {
			t.Fatal(err)
		}
		if got := b.get(t, j.ID); got.State != store.StateCompleted || counters.LeasesRescued.Load() != 0 {
			t.Fatalf("job %s, rescued %d", got.State, counters.LeasesRescued.Load())
		}
	})
}

func TestPromoter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.insert(t, "k", JobOptions{Delay: time.Minute, HasDelay: true})
	var counters Counters
	p := NewPromoter(b.st, b.clock.Now, &counters)
	if err := p.Pass(b.ctx); err != nil || b.get(t, j.ID).State != store.StateScheduled {
		t.Fatalf("promoted before due: %v", err)
	}
	b.clock.Advance(time.Minute)
	if err := p.Pass(b.ctx); err != nil || b.get(t, j.ID).State != store.StateAvailable || counters.Promoted.Load() != 1 {
		t.Fatalf("not promoted when due: %v, state %s, promoted %d", err, b.get(t, j.ID).State, counters.Promoted.Load())
	}
}

// finish inserts a job into queue and moves it to the final state st.
func (b *bundle) finish(t *testing.T, queue string, st store.JobState) store.ID {
	t.Helper()
	j := b.insert(t, "k", JobOptions{Queue: queue, HasQueue: true})
	c, err := b.st.JobClaim(b.ctx, &store.JobClaimParams{Queues: []store.QueueWeight{{Name: queue, Weight: 1}}, Max: 1, Worker: "w", LeaseTTL: time.Minute, Now: b.clock.Now()})
	if err != nil || len(c) != 1 {
		t.Fatalf("claim: %v %d", err, len(c))
	}
	out := map[store.JobState]store.AckOutcome{store.StateCompleted: store.AckComplete, store.StateDead: store.AckDead, store.StateCancelled: store.AckCancel}[st]
	errs, err := b.st.JobAckMany(b.ctx, &store.JobAckManyParams{Acks: []store.JobAck{{Lease: c[0].Lease(), Outcome: out}}, Now: b.clock.Now()})
	if err != nil || errs[0] != nil {
		t.Fatalf("ack: %v %v", err, errs)
	}
	return j.ID
}

func TestRetention(t *testing.T) {
	t.Parallel()
	b := setup(t)
	completed := b.finish(t, "a", store.StateCompleted)
	dead := b.finish(t, "a", store.StateDead)
	cancelled := b.finish(t, "a", store.StateCancelled)
	short := b.finish(t, "b", store.StateDead) // queue b keeps dead jobs for an hour
	if _, err := b.st.QueueUpdate(b.ctx, &store.QueueUpdateParams{Name: "b", DeadRetention: ptr(time.Hour), Now: b.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	var counters Counters
	r := NewRetention(b.st, b.clock.Now, RetentionPolicy{Cancelled: 48 * time.Hour}, &counters, b.log)
	exists := func(id store.ID) bool {
		_, err := b.st.JobGet(b.ctx, &store.JobGetParams{ID: id})
		return err == nil
	}
	step := func(d time.Duration, want map[store.ID]bool, deleted int64) {
		t.Helper()
		b.clock.Advance(d)
		if err := r.Pass(b.ctx); err != nil {
			t.Fatal(err)
		}
		for id, w := range want {
			if exists(id) != w {
				t.Fatalf("after %s: job %s exists = %v, want %v", d, id, !w, w)
			}
		}
		if got := counters.RetentionDeleted.Load(); got != deleted {
			t.Fatalf("RetentionDeleted = %d, want %d", got, deleted)
		}
	}
	step(time.Hour, map[store.ID]bool{completed: true, dead: true, cancelled: true, short: true}, 0) // exactly an hour: kept
	step(time.Second, map[store.ID]bool{completed: true, short: false}, 1)
	step(23*time.Hour, map[store.ID]bool{completed: false, dead: true, cancelled: true}, 2)
	step(24*time.Hour, map[store.ID]bool{cancelled: false, dead: true}, 3)
	step(5*24*time.Hour, map[store.ID]bool{dead: false}, 4)
}

func ptr[T any](v T) *T { return &v }

func TestMaintenanceLeader(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.insert(t, "k", JobOptions{})
	b.claim(t, 1, time.Second)
	b.clock.Advance(time.Minute)
	m1 := NewMaintenance(MaintenanceConfig{Store: b.st, Holder: "p1", Now: b.clock.Now, Interval: time.Hour, Logger: b.log})
	m2 := NewMaintenance(MaintenanceConfig{Store: b.st, Holder: "p2", Now: b.clock.Now, Interval: time.Hour, Logger: b.log})
	if err := m1.RunOnce(b.ctx); err != nil {
		t.Fatal(err)
	}
	if err := m2.RunOnce(b.ctx); err != nil {
		t.Fatal(err)
	}
	if m1.Counters().LeasesRescued.Load() != 1 || m2.Counters().LeasesRescued.Load() != 0 {
		t.Fatalf("rescued: leader %d, follower %d", m1.Counters().LeasesRescued.Load(), m2.Counters().LeasesRescued.Load())
	}
	if !m1.elector.IsLeader() || m2.elector.IsLeader() {
		t.Fatal("both or neither are leaders")
	}
	m1.Stop() // releases the lease: the follower takes over at its next pass
	if err := m2.RunOnce(b.ctx); err != nil || !m2.elector.IsLeader() {
		t.Fatalf("follower did not take over: %v", err)
	}
	m2.Stop()
}

func TestMaintenanceStartStop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.insert(t, "k", JobOptions{})
	b.claim(t, 1, time.Second)
	b.clock.Advance(time.Minute)
	m := NewMaintenance(MaintenanceConfig{Store: b.st, Holder: "p1", Now: b.clock.Now, Interval: time.Millisecond, Logger: b.log})
	if err := m.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return m.Counters().LeasesRescued.Load() == 1 }, "the running service rescues the expired lease")
	m.Stop()
	m.Stop()
	if err := m.Start(b.ctx); !errors.Is(err, ErrServiceStarted) {
		t.Fatalf("Start after Stop = %v", err)
	}
}
