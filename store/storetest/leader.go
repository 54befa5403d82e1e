package storetest

import (
	"time"

	"github.com/troikahq/troika/store"
)

func leaderTests() []test {
	return []test{
		{"AcquireFree", testLeaderAcquireFree},
		{"RenewKeepsEpoch", testLeaderRenew},
		{"OtherRefusedWhileValid", testLeaderRefused},
		{"TakenAfterExpiry", testLeaderTakeover},
		{"Release", testLeaderRelease},
		{"ReleaseByOtherIgnored", testLeaderReleaseOther},
		{"NamesIndependent", testLeaderNames},
	}
}

func (h *harness) acquire(name, holder string, d time.Duration, now time.Time) *store.Leader {
	h.t.Helper()
	l, err := h.s.LeaderAcquire(h.ctx, &store.LeaderAcquireParams{Name: name, Holder: holder, TTL: d, Now: now})
	if err != nil {
		h.t.Fatalf("LeaderAcquire(%q, %q): %v", name, holder, err)
	}
	if l == nil {
		h.t.Fatalf("LeaderAcquire(%q, %q): nil lease", name, holder)
	}
	return l
}

func (h *harness) release(name, holder string) {
	h.t.Helper()
	if err := h.s.LeaderRelease(h.ctx, &store.LeaderReleaseParams{Name: name, Holder: holder}); err != nil {
		h.t.Fatalf("LeaderRelease(%q, %q): %v", name, holder, err)
	}
}

// wantLeader checks holder and expiry, and returns the lease.
func (h *harness) wantLeader(what string, l *store.Leader, name, holder string, expires time.Time) *store.Leader {
	h.t.Helper()
	if l.Name != name || l.Holder != holder {
		h.t.Errorf("%s: lease %q held by %q, want %q held by %q", what, l.Name, l.Holder, name, holder)
	}
	h.wantTime(what+": Expires", l.Expires, expires)
	return l
}

// A free lease is taken: Holder set, Expires = Now + TTL.
func testLeaderAcquireFree(h *harness) {
	l := h.acquire("maint", "node-a", 10*time.Second, at(0))
	h.wantLeader("first acquire", l, "maint", "node-a", at(10*time.Second))
}

// The holder renews: Expires moves, Epoch stays.
func testLeaderRenew(h *harness) {
	l1 := h.acquire("maint", "node-a", 10*time.Second, at(0))
	l2 := h.acquire("maint", "node-a", 10*time.Second, at(5*time.Second))
	h.wantLeader("renewal", l2, "maint", "node-a", at(15*time.Second))
	if l2.Epoch != l1.Epoch {
		h.t.Errorf("renewal changed the epoch from %d to %d", l1.Epoch, l2.Epoch)
	}
}

// Another holder is refused while the lease is valid: the call succeeds and
// returns the lease as it stands, unchanged.
func testLeaderRefused(h *harness) {
	l1 := h.acquire("maint", "node-a", 10*time.Second, at(0))
	l2 := h.acquire("maint", "node-b", 10*time.Second, at(5*time.Second))
	h.wantLeader("refused acquire", l2, "maint", "node-a", at(10*time.Second))
	if l2.Epoch != l1.Epoch {
		h.t.Errorf("refused acquire changed the epoch from %d to %d", l1.Epoch, l2.Epoch)
	}
	h.wantLeader("refused acquire at the deadline's last µs", h.acquire("maint", "node-b", 10*time.Second, at(10*time.Second-time.Microsecond)),
		"maint", "node-a", at(10*time.Second))
	l3 := h.acquire("maint", "node-a", 10*time.Second, at(6*time.Second))
	h.wantLeader("holder renews after a refusal", l3, "maint", "node-a", at(16*time.Second))
}

// After expiry another holder takes the lease and the epoch goes up by
// one; the old holder is then refused.
func testLeaderTakeover(h *harness) {
	l1 := h.acquire("maint", "node-a", 10*time.Second, at(0))
	l2 := h.acquire("maint", "node-b", 10*time.Second, at(11*time.Second))
	h.wantLeader("takeover", l2, "maint", "node-b", at(21*time.Second))
	if l2.Epoch != l1.Epoch+1 {
		h.t.Errorf("takeover: epoch %d, want %d", l2.Epoch, l1.Epoch+1)
	}
	l3 := h.acquire("maint", "node-a", 10*time.Second, at(12*time.Second))
	h.wantLeader("old holder after takeover", l3, "maint", "node-b", at(21*time.Second))
	if l3.Epoch != l2.Epoch {
		h.t.Errorf("refused old holder changed the epoch from %d to %d", l2.Epoch, l3.Epoch)
	}
}

// After a release the lease is free at once for another holder, with a
// higher epoch.
func testLeaderRelease(h *harness) {
	l1 := h.acquire("maint", "node-a", time.Minute, at(0))
	h.release("maint", "node-a")
	l2 := h.acquire("maint", "node-b", time.Minute, at(time.Second))
	h.wantLeader("acquire after release", l2, "maint", "node-b", at(time.Minute+time.Second))
	if l2.Epoch <= l1.Epoch {
		h.t.Errorf("acquire after release: epoch %d, want more than %d", l2.Epoch, l1.Epoch)
	}
	h.release("never-held", "node-a") // releasing a lease that does not exist does nothing
}

// A release by someone who does not hold the lease does nothing.
func testLeaderReleaseOther(h *harness) {
	h.acquire("maint", "node-a", time.Minute, at(0))
	h.release("maint", "node-b")
	h.wantLeader("after a release by another", h.acquire("maint", "node-b", time.Minute, at(time.Second)), "maint", "node-a", at(time.Minute))

	// The old holder releasing after a takeover does not free the new one's lease.
	h.acquire("maint", "node-b", time.Minute, at(2*time.Minute))
	h.release("maint", "node-a")
	h.wantLeader("after a stale release", h.acquire("maint", "node-c", time.Minute, at(2*time.Minute+time.Second)),
		"maint", "node-b", at(3*time.Minute))
}

// Leases with different names are independent.
func testLeaderNames(h *harness) {
	h.acquire("cron", "node-a", time.Minute, at(0))
	l := h.acquire("retention", "node-b", time.Minute, at(time.Second))
	h.wantLeader("second name", l, "retention", "node-b", at(time.Minute+time.Second))
	h.wantLeader("first name unaffected", h.acquire("cron", "node-c", time.Minute, at(2*time.Second)), "cron", "node-a", at(time.Minute))
}
