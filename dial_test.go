package troika_test

import (
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/troikahq/troika"
)

func TestDialBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "ftp://host:1", "http://", "::nope"} {
		if _, err := troika.Dial(t.Context(), u); !errors.Is(err, troika.ErrInvalidArgument) {
			t.Errorf("Dial(%q) = %v, want ErrInvalidArgument", u, err)
		}
	}
}

// The Client's admin calls over the API keep the SDK's typed errors.
func TestDialAdmin(t *testing.T) {
	t.Parallel()
	b := setupRemote(t)
	_, err := b.client.Enqueue(b.ctx, Email{}, troika.Queue("Bad Queue"))
	var inv *troika.InvalidArgumentError
	if !errors.As(err, &inv) || inv.Field != "queue" {
		t.Fatalf("bad queue: %v", err)
	}
	if _, err := b.client.GetJob(b.ctx, troika.JobID{1}); !errors.Is(err, troika.ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	res := b.enqueue(t, Email{To: "a"}, troika.Queue("mail"), troika.Unique("k", time.Hour))
	dup := b.enqueue(t, Email{To: "a"}, troika.Queue("mail"), troika.Unique("k", time.Hour))
	if !dup.Duplicate || dup.ID != res.ID {
		t.Fatalf("duplicate = %+v (first %+v)", dup, res)
	}
	_, err = b.client.RetryJob(b.ctx, res.ID)
	var se *troika.StateError
	if !errors.As(err, &se) || se.State != troika.StateAvailable || se.ID != res.ID {
		t.Fatalf("retry of an available job: %v", err)
	}
	if err := b.client.PauseQueue(b.ctx, "mail"); err != nil {
		t.Fatal(err)
	}
	q, err := b.client.QueueStats(b.ctx, "mail")
	if err != nil || !q.Paused || q.Counts[troika.StateAvailable] != 1 || q.CompletedRetention != 24*time.Hour {
		t.Fatalf("queue = %+v, %v", q, err)
	}
	d := time.Hour
	if q, err = b.client.UpdateQueue(b.ctx, "mail", troika.QueueUpdate{CompletedRetention: &d}); err != nil || q.CompletedRetention != time.Hour {
		t.Fatalf("update = %+v, %v", q, err)
	}
	if j, err := b.client.CancelJob(b.ctx, res.ID); err != nil || j.State != troika.StateCancelled {
		t.Fatalf("cancel = %+v, %v", j, err)
	}
	if err := b.client.DeleteJob(b.ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := b.client.PurgeDead(b.ctx, troika.DeadFilter{}); err != nil || n != 0 {
		t.Fatalf("purge = %d, %v", n, err)
	}
	page, err := b.client.ListJobs(b.ctx, troika.ListParams{})
	if err != nil || len(page.Jobs) != 0 {
		t.Fatalf("list = %+v, %v", page, err)
	}
}

// A server with tokens refuses a Client without the right one, with a
// Connect error the caller can inspect.
func TestDialToken(t *testing.T) {
	t.Parallel()
	b := setupRemoteTokens(t, adminToken("admin-token-0123456789abcdef"))
	_, err := b.client.Enqueue(b.ctx, Email{})
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("no token: %v", err)
	}
	c, err := troika.Dial(b.ctx, b.url, troika.WithToken("admin-token-0123456789abcdef"), troika.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Enqueue(b.ctx, Email{}); err != nil {
		t.Fatal(err)
	}
}
