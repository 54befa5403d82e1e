package postgres

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifier sends the store's NOTIFYs after the writes that made jobs
// ready have committed, from one goroutine that coalesces them: whatever
// queues accumulated while a NOTIFY was in flight go in the next one. A
// transaction that notifies holds a database-wide lock through its commit,
// so notifying inside every insert would serialize concurrent inserts
// (and their WAL flushes); here at most one small notifying transaction
// per store is in flight. Lifecycle: started by Open, stopped by Close.
type notifier struct {
	s      *Store
	mu     sync.Mutex
	queues []string
	signal chan struct{}
	stopCh chan struct{}
	done   chan struct{}
}

func newNotifier(s *Store) *notifier {
	n := &notifier{s: s, signal: make(chan struct{}, 1), stopCh: make(chan struct{}), done: make(chan struct{})}
	go n.loop()
	return n
}

// add queues a NOTIFY for queues (never blocking).
func (n *notifier) add(queues []string) {
	if len(queues) == 0 {
		return
	}
	n.mu.Lock()
	for _, q := range queues {
		if !slices.Contains(n.queues, q) {
			n.queues = append(n.queues, q)
		}
	}
	n.mu.Unlock()
	signal(n.signal)
}

// stop sends what is pending and ends the goroutine.
func (n *notifier) stop() {
	close(n.stopCh)
	<-n.done
}

func (n *notifier) loop() {
	defer close(n.done)
	for {
		select {
		case <-n.signal:
			n.flush()
		case <-n.stopCh:
			n.flush()
			return
		}
	}
}

// flush sends the pending queues in one statement, retrying transient
// failures for a few seconds. A NOTIFY that still fails is logged and
// dropped: other processes' workers then find the jobs at their own idle
// poll (the SDK worker's is one second).
func (n *notifier) flush() {
	n.mu.Lock()
	qs := n.queues
	n.queues = nil
	n.mu.Unlock()
	if len(qs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	backoff := 10 * time.Millisecond
	for {
		err := n.send(ctx, qs)
		if err == nil {
			return
		}
		if !transient(err) || ctx.Err() != nil {
			n.s.log.Warn("troika: NOTIFY failed; other processes find the jobs at their next poll", "queues", qs, "error", err)
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// send NOTIFYs queues in one implicit transaction (one round trip) that
// does not wait for its WAL flush: a NOTIFY takes a transaction id, so its
// commit would otherwise wait for an fsync, and listeners are signalled at
// commit anyway. A NOTIFY lost with a PostgreSQL crash is covered by the
// LISTEN connection's reconnection, which wakes everyone.
func (n *notifier) send(ctx context.Context, queues []string) error {
	var b pgx.Batch
	b.Queue(asyncCommit)
	b.Queue(n.s.q.notify, n.s.channel, queues)
	return n.s.pool.SendBatch(ctx, &b).Close()
}
