package postgres

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/troikahq/troika/store"
)

// JobSubscribe implements store.Store. Wake-ups come from this store's own
// writes at once, from other processes through LISTEN/NOTIFY on a dedicated
// connection (opened on the first subscription, reconnected with back-off),
// and from a poll every PollInterval that finds scheduled jobs come due and,
// while the LISTEN connection is down, wakes every subscriber (so none is
// lost, only delayed by at most PollInterval).
func (s *Store) JobSubscribe(p *store.JobSubscribeParams) (<-chan struct{}, func()) {
	var queues []string
	if p != nil && len(p.Queues) > 0 {
		queues = slices.Clone(p.Queues)
	}
	return s.subs.add(queues)
}

// subscribers is the registry of subscriptions and the goroutines that feed
// them. Lifecycle: goroutines start with the first subscription and stop at
// Close (stop waits for them).
type subscribers struct {
	s *Store

	mu      sync.Mutex
	subs    map[*sub]struct{}
	started bool
	stopped bool

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	listening atomic.Bool
}

type sub struct {
	ch     chan struct{}
	queues []string // nil: every queue
}

func newSubscribers(s *Store) *subscribers {
	return &subscribers{s: s, subs: map[*sub]struct{}{}}
}

func (m *subscribers) add(queues []string) (<-chan struct{}, func()) {
	sb := &sub{ch: make(chan struct{}, 1), queues: queues}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return sb.ch, func() {}
	}
	m.subs[sb] = struct{}{}
	if !m.started {
		m.started = true
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel = cancel
		m.wg.Add(2)
		go func() { defer m.wg.Done(); m.listen(ctx) }()
		go func() { defer m.wg.Done(); m.pollLoop(ctx) }()
	}
	var once sync.Once
	return sb.ch, func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.subs, sb)
			m.mu.Unlock()
		})
	}
}

// stop ends the goroutines and every subscription's deliveries.
func (m *subscribers) stop() {
	m.mu.Lock()
	m.stopped = true
	cancel := m.cancel
	clear(m.subs)
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.wg.Wait()
}

// wake signals the subscribers of any of queues (never blocking).
func (m *subscribers) wake(queues []string) {
	if len(queues) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for sb := range m.subs {
		if sb.queues == nil || slices.ContainsFunc(queues, func(q string) bool { return slices.Contains(sb.queues, q) }) {
			signal(sb.ch)
		}
	}
}

// wakeAll signals every subscriber.
func (m *subscribers) wakeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for sb := range m.subs {
		signal(sb.ch)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// listen holds the LISTEN connection until ctx ends, reconnecting with
// back-off. Each (re)connection wakes everybody once, covering the
// notifications it may have missed.
func (m *subscribers) listen(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := m.listenOnce(ctx)
		m.listening.Store(false)
		if ctx.Err() != nil {
			return
		}
		m.s.log.Debug("troika: postgres LISTEN connection lost; reconnecting", "error", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (m *subscribers) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, m.s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{m.s.channel}.Sanitize()); err != nil {
		return err
	}
	m.listening.Store(true)
	m.wakeAll()
	var one [1]string
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		one[0] = n.Payload
		m.wake(one[:])
	}
}

// pollLoop wakes the queues whose scheduled jobs came due since the last
// pass, and everybody while the LISTEN connection is down.
func (m *subscribers) pollLoop(ctx context.Context) {
	tick := time.NewTicker(m.s.poll)
	defer tick.Stop()
	prev := m.s.clock(time.Time{})
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !m.listening.Load() {
			m.wakeAll()
		}
		now := m.s.clock(time.Time{})
		rows, err := m.s.pool.Query(ctx, m.s.q.dueQueues, prev, now)
		if err != nil {
			continue // down: the wakeAll above covers it
		}
		queues, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			continue
		}
		prev = now
		m.wake(queues)
	}
}
