package engine

import (
	"hash/fnv"
	"time"

	"github.com/troikahq/troika/internal/cron"
	"github.com/troikahq/troika/store"
)

// DefaultMisfireGrace is how late a due instant may be handled and still
// count as on time: it fires whatever the misfire policy. Older instants are
// missed.
const DefaultMisfireGrace = 30 * time.Second

// uniqueFor is the unique window of a fired job after its instant. The
// schedule's compare-and-set already prevents a refire; the key is the
// second lock, for two firers at once.
const uniqueFor = 7 * 24 * time.Hour

// maxWalk bounds how many due instants a plan enumerates one by one (an
// every-second schedule down for a day has 86,400); beyond it the plan
// finds the most recent instants by searching back from now and reports
// the missed count as at least maxWalk.
const maxWalk = 50_000

// Anchor returns the instant an interval schedule counts from: its start,
// or else its creation, truncated to the second.
func Anchor(d *store.ScheduleDefinition, createdAt time.Time) time.Time {
	if !d.StartAt.IsZero() {
		return d.StartAt
	}
	return createdAt.Truncate(time.Second)
}

// NextFire returns the first fire instant of d strictly after after within
// its start and end bounds, or zero if there is none.
func NextFire(cs *cron.Schedule, d *store.ScheduleDefinition, after, anchor time.Time) time.Time {
	if !d.StartAt.IsZero() && after.Before(d.StartAt) {
		after = d.StartAt.Add(-time.Nanosecond)
	}
	t := cs.Next(after, anchor)
	if t.IsZero() || !d.EndAt.IsZero() && t.After(d.EndAt) {
		return time.Time{}
	}
	return t
}

// NextFires returns up to n fire instants of d after after.
func NextFires(cs *cron.Schedule, d *store.ScheduleDefinition, after, anchor time.Time, n int) []time.Time {
	var out []time.Time
	for range n {
		t := NextFire(cs, d, after, anchor)
		if t.IsZero() {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}

// UniqueKey is the unique key of the job fired for instant of schedule id.
func UniqueKey(id string, instant time.Time) string {
	return "troika:schedule:" + id + ":" + instant.UTC().Format(time.RFC3339Nano)
}

// jitterFor returns a deterministic delay in [0, max) for (id, instant), so
// that two firers compute the same job.
func jitterFor(id string, instant time.Time, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	var b [8]byte
	n := uint64(instant.UnixNano())
	for i := range b {
		b[i] = byte(n >> (8 * i))
	}
	_, _ = h.Write(b[:])
	return time.Duration(h.Sum64() % uint64(max))
}

// FireJob returns the job of d for instant: the template, run at instant
// plus its jitter, unique to (schedule, instant).
func FireJob(d *store.ScheduleDefinition, instant time.Time) *store.InsertJob {
	runAt := instant.Add(jitterFor(d.ID, instant, d.Jitter))
	return &store.InsertJob{
		Kind: d.Job.Kind, Args: d.Job.Args, Queue: d.Job.Queue, Priority: d.Job.Priority,
		MaxAttempts: d.Job.MaxAttempts, Timeout: d.Job.Timeout, Metadata: d.Job.Metadata, Tags: d.Job.Tags,
		RunAt: runAt, UniqueKey: UniqueKey(d.ID, instant), UniqueUntil: runAt.Add(uniqueFor),
	}
}

// overlapState is what the previous fire's job is doing.
type overlapState int

const (
	overlapNone    overlapState = iota // no job, or it finished
	overlapWaiting                     // enqueued, not started
	overlapRunning                     // running
)

// plan is what one pass does with one due schedule.
type plan struct {
	fires      []store.ScheduleFireItem
	lastFireAt time.Time
	nextFireAt time.Time
	missed     int // instants dropped by the misfire policy
	enqueued   int
	overlapped int
}

// makePlan decides the fires of a due schedule at now: which due instants
// fire (misfire policy), which are skipped for overlap, and the schedule's
// new LastFireAt and NextFireAt. prev is what the previous fire's job is
// doing. It returns nil when nothing is due after all.
func makePlan(sc *store.Schedule, cs *cron.Schedule, now time.Time, grace time.Duration, prev overlapState) *plan {
	d := &sc.ScheduleDefinition
	anchor := Anchor(d, sc.CreatedAt)
	first := sc.NextFireAt
	if !sc.LastFireAt.IsZero() && !first.After(sc.LastFireAt) {
		// Never refire an instant: a stale NextFireAt (an upsert raced a
		// fire) restarts after the last handled one.
		first = NextFire(cs, d, sc.LastFireAt, anchor)
	}
	keep := 1
	if d.MisfirePolicy == store.MisfireCatchUp {
		keep = max(d.CatchUpLimit, 1)
	}
	missed, missedTotal, onTime, evicted := dueInstants(cs, d, first, now, anchor, grace, keep)
	if missedTotal == 0 && len(onTime) == 0 {
		return nil
	}
	// Instants at most grace late are on time and all fire; older ones are
	// missed and follow the misfire policy.
	var fire []time.Time
	switch d.MisfirePolicy {
	case store.MisfireSkip:
	case store.MisfireCatchUp:
		fire = missed
	default: // run_once: one job for the missed instants, unless an on-time one fires anyway
		if len(onTime) == 0 && len(missed) > 0 {
			fire = missed[len(missed)-1:]
		}
	}
	dropped := missedTotal - len(fire)
	fire = append(fire, onTime...)
	var latest time.Time // the newest instant handled
	switch {
	case len(onTime) > 0:
		latest = onTime[len(onTime)-1]
	case len(missed) > 0:
		latest = missed[len(missed)-1]
	default:
		return nil
	}
	p := &plan{lastFireAt: latest, nextFireAt: NextFire(cs, d, latest, anchor), missed: dropped}
	if dropped > 0 {
		// The record names the newest instant dropped: the newest missed
		// one when none of them fired, else the newest let go of.
		at := evicted
		switch {
		case len(missed) == 0:
			at = latest
		case len(fire) == len(onTime) || at.IsZero():
			at = missed[len(missed)-1]
		}
		p.fires = append(p.fires, store.ScheduleFireItem{Instant: at, Outcome: store.FireMissed, Missed: dropped})
	}
	for _, instant := range fire {
		skip := d.OverlapPolicy == store.OverlapSkipIfRunning && prev != overlapNone ||
			d.OverlapPolicy == store.OverlapQueueOne && prev == overlapWaiting
		if skip {
			p.fires = append(p.fires, store.ScheduleFireItem{Instant: instant, Outcome: store.FireOverlap})
			p.overlapped++
			continue
		}
		p.fires = append(p.fires, store.ScheduleFireItem{Instant: instant, Outcome: store.FireEnqueued, Job: FireJob(d, instant)})
		p.enqueued++
		prev = overlapWaiting
	}
	return p
}

// dueInstants walks the due instants from first to now. Those more than
// grace before now are missed: it returns the most recent keep of them
// (oldest first) and how many there are in all (at least maxWalk when the
// walk was cut short), and the newest missed instant it let go of (zero if
// none or unknown). The others are on time: it returns them all.
func dueInstants(cs *cron.Schedule, d *store.ScheduleDefinition, first, now, anchor time.Time, grace time.Duration, keep int) (missed []time.Time, missedTotal int, onTime []time.Time, evicted time.Time) {
	cutoff := now.Add(-grace) // instants before it are missed
	t := first
	for ; !t.IsZero() && t.Before(cutoff); t = NextFire(cs, d, t, anchor) {
		if missedTotal == maxWalk {
			missed = recentInstants(cs, d, first, cutoff.Add(-time.Nanosecond), anchor, keep)
			evicted = time.Time{} // unknown: somewhere before missed[0]
			t = NextFire(cs, d, cutoff.Add(-time.Nanosecond), anchor)
			break
		}
		missedTotal++
		missed = append(missed, t)
		if len(missed) > keep {
			evicted = missed[0]
			missed = missed[1:]
		}
	}
	for ; !t.IsZero() && !t.After(now); t = NextFire(cs, d, t, anchor) {
		onTime = append(onTime, t)
	}
	return missed, missedTotal, onTime, evicted
}

// recentInstants finds the most recent keep instants in [first, now] by
// searching windows that double back from now.
func recentInstants(cs *cron.Schedule, d *store.ScheduleDefinition, first, now, anchor time.Time, keep int) []time.Time {
	for w := time.Minute; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(first) || w > 1<<40 {
			from = first.Add(-time.Nanosecond)
		}
		var got []time.Time
		for t := NextFire(cs, d, from, anchor); !t.IsZero() && !t.After(now); t = NextFire(cs, d, t, anchor) {
			got = append(got, t)
			if len(got) > keep {
				got = got[1:]
			}
		}
		if len(got) >= keep || !from.After(first) {
			return got
		}
	}
}
