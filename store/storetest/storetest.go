package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

// base is the instant every test's clock starts at. Tests move time forward
// explicitly with at; nothing reads the wall clock.
var base = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	// workerID is the lease holder the helpers claim as.
	workerID = "worker-1"
	// ttl is the lease TTL the helpers claim with.
	ttl = 30 * time.Second
	// wakeDeadline bounds every wait for a JobSubscribe wake-up. The
	// contract allows up to one second for a backend that cannot push; this
	// is generous so that a loaded machine does not make the suite flaky.
	wakeDeadline = 10 * time.Second
)

// at returns base + d: the suite's clock.
func at(d time.Duration) time.Time { return base.Add(d) }

// Run runs the whole suite against a backend. open returns a fresh, empty
// store for one test and registers its cleanup with t.Cleanup.
//
// Groups run one after another; the subtests of a group run in parallel,
// each with its own store. Run returns when every subtest has finished.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	if open == nil {
		t.Fatal("storetest.Run: open is nil")
	}
	for _, g := range suite() {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(setup(t, open))
				})
			}
		})
	}
}

// RunAll runs the whole conformance suite: the job contract (Run), schedules
// (RunSchedules), ordering keys (RunOrdering) and topics (RunTopics). Every
// backend runs it with one call; a backend that lacks one of the seams
// fails that group, it is never skipped. open is as for Run.
func RunAll(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	Run(t, open)
	RunSchedules(t, open)
	RunOrdering(t, open)
	RunTopics(t, open)
}

// group is a named set of subtests.
type group struct {
	name  string
	tests []test
}

// test is one named subtest.
type test struct {
	name string
	run  func(h *harness)
}

func suite() []group {
	return []group{
		{"Insert", insertTests()},
		{"Unique", uniqueTests()},
		{"Claim", claimTests()},
		{"Concurrency", concurrencyTests()},
		{"Fencing", fencingTests()},
		{"Outcome", outcomeTests()},
		{"Lease", leaseTests()},
		{"Promote", promoteTests()},
		{"List", listTests()},
		{"Cancel", cancelTests()},
		{"Retry", retryTests()},
		{"Delete", deleteTests()},
		{"Queue", queueTests()},
		{"Leader", leaderTests()},
		{"Subscribe", subscribeTests()},
		{"Close", closeTests()},
		{"BadParams", badParamsTests()},
	}
}

// harness is one subtest's store with the helpers that keep tests short.
// Helpers fail the test (Fatal) when a call that should succeed does not.
type harness struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
}

func setup(t *testing.T, open func(t *testing.T) store.Store) *harness {
	t.Helper()
	s := open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	return &harness{t: t, s: s, ctx: t.Context()}
}

// ---- building jobs

// opt sets a field of an InsertJob.
type opt func(*store.InsertJob)

// newJob returns a job to insert with the engine's defaults filled in (the
// store stores what it is given), changed by opts.
func newJob(opts ...opt) store.InsertJob {
	j := store.InsertJob{
		Kind:        "test.job",
		Args:        []byte(`{}`),
		Queue:       "default",
		Priority:    2,
		MaxAttempts: 25,
	}
	for _, o := range opts {
		o(&j)
	}
	return j
}

func withQueue(q string) opt      { return func(j *store.InsertJob) { j.Queue = q } }
func withKind(k string) opt       { return func(j *store.InsertJob) { j.Kind = k } }
func withPriority(p int) opt      { return func(j *store.InsertJob) { j.Priority = p } }
func withRunAt(t time.Time) opt   { return func(j *store.InsertJob) { j.RunAt = t } }
func withArgs(a string) opt       { return func(j *store.InsertJob) { j.Args = []byte(a) } }
func withTags(tags ...string) opt { return func(j *store.InsertJob) { j.Tags = tags } }
func withMaxAttempts(n int) opt   { return func(j *store.InsertJob) { j.MaxAttempts = n } }
func withUnique(key string, until time.Time) opt {
	return func(j *store.InsertJob) { j.UniqueKey, j.UniqueUntil = key, until }
}

// ---- calling the store

func (h *harness) insertResults(now time.Time, jobs ...store.InsertJob) []store.InsertResult {
	h.t.Helper()
	res, err := h.s.JobInsertMany(h.ctx, &store.JobInsertManyParams{Jobs: jobs, Now: now})
	if err != nil {
		h.t.Fatalf("JobInsertMany: %v", err)
	}
	if len(res) != len(jobs) {
		h.t.Fatalf("JobInsertMany: %d results for %d jobs", len(res), len(jobs))
	}
	for i, r := range res {
		if r.Job == nil {
			h.t.Fatalf("JobInsertMany: result %d has a nil Job", i)
		}
		if r.Job.ID.IsZero() {
			h.t.Fatalf("JobInsertMany: result %d has the zero ID", i)
		}
	}
	return res
}

// insert inserts jobs that must all be new and returns them.
func (h *harness) insert(now time.Time, jobs ...store.InsertJob) []*store.Job {
	h.t.Helper()
	res := h.insertResults(now, jobs...)
	out := make([]*store.Job, len(res))
	for i, r := range res {
		if r.Duplicate {
			h.t.Fatalf("JobInsertMany: result %d is an unexpected duplicate of %s", i, r.Job.ID)
		}
		out[i] = r.Job
	}
	return out
}

// insert1 inserts one new job built from opts.
func (h *harness) insert1(now time.Time, opts ...opt) *store.Job {
	h.t.Helper()
	return h.insert(now, newJob(opts...))[0]
}

// insertN inserts n new jobs built from opts, in one batch.
func (h *harness) insertN(now time.Time, n int, opts ...opt) []*store.Job {
	h.t.Helper()
	jobs := make([]store.InsertJob, n)
	for i := range jobs {
		jobs[i] = newJob(opts...)
	}
	return h.insert(now, jobs...)
}

func weights(queues ...string) []store.QueueWeight {
	qs := make([]store.QueueWeight, len(queues))
	for i, q := range queues {
		qs[i] = store.QueueWeight{Name: q, Weight: 1}
	}
	return qs
}

// claimWith claims with p and checks what every claim must satisfy.
func (h *harness) claimWith(p store.JobClaimParams) []*store.Job {
	h.t.Helper()
	jobs, err := h.s.JobClaim(h.ctx, &p)
	if err != nil {
		h.t.Fatalf("JobClaim: %v", err)
	}
	if len(jobs) > p.Max {
		h.t.Fatalf("JobClaim: %d jobs for Max %d", len(jobs), p.Max)
	}
	seen := map[store.ID]bool{}
	for i, j := range jobs {
		if j == nil {
			h.t.Fatalf("JobClaim: job %d is nil", i)
		}
		if seen[j.ID] {
			h.t.Fatalf("JobClaim: job %s returned twice in one claim", j.ID)
		}
		seen[j.ID] = true
		if j.State != store.StateRunning || j.LeaseToken == 0 {
			h.t.Fatalf("JobClaim: job %s returned in state %q with token %d, want running with a non-zero token", j.ID, j.State, j.LeaseToken)
		}
	}
	return jobs
}

// claim claims up to max jobs from queues (weight 1 each) as workerID with ttl.
func (h *harness) claim(now time.Time, max int, queues ...string) []*store.Job {
	h.t.Helper()
	return h.claimWith(store.JobClaimParams{Queues: weights(queues...), Max: max, Worker: workerID, LeaseTTL: ttl, Now: now})
}

// claimOne claims exactly one job from queue.
func (h *harness) claimOne(now time.Time, queue string) *store.Job {
	h.t.Helper()
	jobs := h.claim(now, 1, queue)
	if len(jobs) != 1 {
		h.t.Fatalf("JobClaim(%q) at %s: got %d jobs, want 1", queue, fmtTime(now), len(jobs))
	}
	return jobs[0]
}

// claimID claims exactly one job from queue and checks that it is id.
func (h *harness) claimID(now time.Time, queue string, id store.ID) *store.Job {
	h.t.Helper()
	j := h.claimOne(now, queue)
	if j.ID != id {
		h.t.Fatalf("JobClaim(%q): got job %s, want %s", queue, j.ID, id)
	}
	return j
}

// wantNoClaim checks that nothing is claimable in queues at now.
func (h *harness) wantNoClaim(now time.Time, queues ...string) {
	h.t.Helper()
	if jobs := h.claim(now, 100, queues...); len(jobs) != 0 {
		h.t.Errorf("JobClaim(%v) at %s: got %d jobs (first %s), want none",
			queues, fmtTime(now), len(jobs), jobs[0].ID)
	}
}

// ack applies acks and returns the per-item errors.
func (h *harness) ack(now time.Time, acks ...store.JobAck) []error {
	h.t.Helper()
	errs, err := h.s.JobAckMany(h.ctx, &store.JobAckManyParams{Acks: acks, Now: now})
	if err != nil {
		h.t.Fatalf("JobAckMany: %v", err)
	}
	if len(errs) != len(acks) {
		h.t.Fatalf("JobAckMany: %d results for %d acks", len(errs), len(acks))
	}
	return errs
}

// mustAck applies acks that must all succeed.
func (h *harness) mustAck(now time.Time, acks ...store.JobAck) {
	h.t.Helper()
	for i, err := range h.ack(now, acks...) {
		if err != nil {
			h.t.Fatalf("JobAckMany item %d (job %s, outcome %d): %v", i, acks[i].Lease.ID, acks[i].Outcome, err)
		}
	}
}

func attemptErr(j *store.Job, now time.Time, msg string) *store.AttemptError {
	return &store.AttemptError{At: now, Attempt: j.Attempt, Message: msg}
}

func completeAck(j *store.Job, result string) store.JobAck {
	a := store.JobAck{Lease: j.Lease(), Outcome: store.AckComplete}
	if result != "" {
		a.Result = []byte(result)
	}
	return a
}

func retryAck(j *store.Job, now, runAt time.Time, msg string) store.JobAck {
	return store.JobAck{Lease: j.Lease(), Outcome: store.AckRetry, RunAt: runAt, Error: attemptErr(j, now, msg)}
}

func deadAck(j *store.Job, now time.Time, msg string) store.JobAck {
	return store.JobAck{Lease: j.Lease(), Outcome: store.AckDead, Error: attemptErr(j, now, msg)}
}

// cancelAck cancels without an error when msg is empty.
func cancelAck(j *store.Job, now time.Time, msg string) store.JobAck {
	a := store.JobAck{Lease: j.Lease(), Outcome: store.AckCancel}
	if msg != "" {
		a.Error = attemptErr(j, now, msg)
	}
	return a
}

func snoozeAck(j *store.Job, runAt time.Time) store.JobAck {
	return store.JobAck{Lease: j.Lease(), Outcome: store.AckSnooze, RunAt: runAt}
}

// extend heartbeats leases and returns the per-item errors.
func (h *harness) extend(now time.Time, d time.Duration, leases ...store.LeaseRef) []error {
	h.t.Helper()
	errs, err := h.s.JobLeaseExtendMany(h.ctx, &store.JobLeaseExtendManyParams{Leases: leases, TTL: d, Now: now})
	if err != nil {
		h.t.Fatalf("JobLeaseExtendMany: %v", err)
	}
	if len(errs) != len(leases) {
		h.t.Fatalf("JobLeaseExtendMany: %d results for %d leases", len(errs), len(leases))
	}
	return errs
}

func (h *harness) expired(now time.Time, limit int) []*store.Job {
	h.t.Helper()
	jobs, err := h.s.JobLeaseExpiredList(h.ctx, &store.JobLeaseExpiredListParams{Now: now, Limit: limit})
	if err != nil {
		h.t.Fatalf("JobLeaseExpiredList: %v", err)
	}
	return jobs
}

func (h *harness) promote(now time.Time, limit int) int {
	h.t.Helper()
	n, err := h.s.JobPromoteDue(h.ctx, &store.JobPromoteDueParams{Now: now, Limit: limit})
	if err != nil {
		h.t.Fatalf("JobPromoteDue: %v", err)
	}
	return n
}

// get returns a job that must exist.
func (h *harness) get(id store.ID) *store.Job {
	h.t.Helper()
	j, err := h.s.JobGet(h.ctx, &store.JobGetParams{ID: id})
	if err != nil {
		h.t.Fatalf("JobGet(%s): %v", id, err)
	}
	if j == nil || j.ID != id {
		h.t.Fatalf("JobGet(%s): got %v", id, j)
	}
	return j
}

// wantGone checks that a job no longer exists.
func (h *harness) wantGone(id store.ID) {
	h.t.Helper()
	j, err := h.s.JobGet(h.ctx, &store.JobGetParams{ID: id})
	if !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("JobGet(%s): got (%v, %v), want ErrNotFound", id, j, err)
	}
}

// wantState checks a job's state and returns it.
func (h *harness) wantState(id store.ID, want store.JobState) *store.Job {
	h.t.Helper()
	j := h.get(id)
	if j.State != want {
		h.t.Errorf("job %s: state %q, want %q", id, j.State, want)
	}
	return j
}

// wantUnchanged checks that the job still reads as before.
func (h *harness) wantUnchanged(what string, before *store.Job) {
	h.t.Helper()
	h.wantJob(what+": job changed", h.get(before.ID), before)
}

func (h *harness) list(p store.JobListParams) *store.JobListResult {
	h.t.Helper()
	res, err := h.s.JobList(h.ctx, &p)
	if err != nil {
		h.t.Fatalf("JobList(%+v): %v", p, err)
	}
	if res == nil {
		h.t.Fatalf("JobList(%+v): nil result", p)
	}
	return res
}

// listAll follows the cursor of JobList to the end and returns every job.
func (h *harness) listAll(p store.JobListParams) []*store.Job {
	h.t.Helper()
	var all []*store.Job
	for page := 0; ; page++ {
		if page > 20000 {
			h.t.Fatalf("JobList(%+v): more than 20000 pages; the cursor does not advance", p)
		}
		res := h.list(p)
		all = append(all, res.Jobs...)
		if res.Next.IsZero() {
			return all
		}
		if res.Next == p.After {
			h.t.Fatalf("JobList(%+v): Next equals After; the cursor does not advance", p)
		}
		p.After = res.Next
	}
}

func (h *harness) count(p store.JobListParams) int {
	h.t.Helper()
	return len(h.listAll(p))
}

func (h *harness) queue(name string, now time.Time) *store.Queue {
	h.t.Helper()
	q, err := h.s.QueueGet(h.ctx, &store.QueueGetParams{Name: name, Now: now})
	if err != nil {
		h.t.Fatalf("QueueGet(%q): %v", name, err)
	}
	if q == nil {
		h.t.Fatalf("QueueGet(%q): nil queue", name)
	}
	return q
}

func (h *harness) update(p store.QueueUpdateParams) *store.Queue {
	h.t.Helper()
	q, err := h.s.QueueUpdate(h.ctx, &p)
	if err != nil {
		h.t.Fatalf("QueueUpdate(%q): %v", p.Name, err)
	}
	if q == nil {
		h.t.Fatalf("QueueUpdate(%q): nil queue", p.Name)
	}
	return q
}

func (h *harness) pause(name string, paused bool, now time.Time) {
	h.t.Helper()
	h.update(store.QueueUpdateParams{Name: name, Paused: &paused, Now: now})
}

func (h *harness) cancel(id store.ID, now time.Time, reason string) (*store.Job, error) {
	h.t.Helper()
	return h.s.JobCancel(h.ctx, &store.JobCancelParams{ID: id, Reason: reason, Now: now})
}

func (h *harness) retry(p store.JobRetryParams) ([]*store.Job, error) {
	h.t.Helper()
	return h.s.JobRetry(h.ctx, &p)
}

func (h *harness) delete(p store.JobDeleteParams) (int, error) {
	h.t.Helper()
	return h.s.JobDelete(h.ctx, &p)
}

// inState makes a job in state (opts decide its queue, kind…) at now and
// returns it as JobGet reads it. Waiting states wait until now + 1h. For
// the states reached through a claim, the queue must have no other ready job.
func (h *harness) inState(now time.Time, state store.JobState, opts ...opt) *store.Job {
	h.t.Helper()
	switch state {
	case store.StateScheduled:
		return h.insert(now, newJob(append(opts, withRunAt(now.Add(time.Hour)))...))[0]
	case store.StateAvailable:
		return h.insert(now, newJob(opts...))[0]
	}
	j := h.insert(now, newJob(opts...))[0]
	c := h.claimID(now, j.Queue, j.ID)
	switch state {
	case store.StateRunning:
		return c
	case store.StateRetryable:
		h.mustAck(now, retryAck(c, now, now.Add(time.Hour), "failed"))
	case store.StateCompleted:
		h.mustAck(now, completeAck(c, ""))
	case store.StateDead:
		h.mustAck(now, deadAck(c, now, "permanent"))
	case store.StateCancelled:
		h.mustAck(now, cancelAck(c, now, "cancelled by handler"))
	default:
		h.t.Fatalf("inState: unknown state %q", state)
	}
	return h.wantState(j.ID, state)
}

// ---- assertions

// sameTime reports whether a and b are the same instant at microsecond
// precision.
func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (h *harness) wantTime(what string, got, want time.Time) {
	h.t.Helper()
	if !sameTime(got, want) {
		h.t.Errorf("%s: got %s, want %s", what, fmtTime(got), fmtTime(want))
	}
}

// wantErr checks that err matches target with errors.Is.
func (h *harness) wantErr(what string, err, target error) {
	h.t.Helper()
	if !errors.Is(err, target) {
		h.t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// wantStateError checks that err is a *StateError for id in state.
func (h *harness) wantStateError(what string, err error, id store.ID, state store.JobState) {
	h.t.Helper()
	if !errors.Is(err, store.ErrWrongState) {
		h.t.Errorf("%s: got error %v, want ErrWrongState", what, err)
		return
	}
	var se *store.StateError
	if !errors.As(err, &se) {
		h.t.Errorf("%s: error %v matches ErrWrongState but is not a *StateError", what, err)
		return
	}
	if se.ID != id || se.State != state {
		h.t.Errorf("%s: StateError{ID: %s, State: %q}, want {ID: %s, State: %q}", what, se.ID, se.State, id, state)
	}
}

// wantItemErrs checks per-item errors: nil wants success, otherwise
// errors.Is.
func (h *harness) wantItemErrs(what string, errs []error, want ...error) {
	h.t.Helper()
	if len(errs) != len(want) {
		h.t.Fatalf("%s: %d results, want %d", what, len(errs), len(want))
	}
	for i := range want {
		switch {
		case want[i] == nil && errs[i] != nil:
			h.t.Errorf("%s: item %d: unexpected error %v", what, i, errs[i])
		case want[i] != nil && !errors.Is(errs[i], want[i]):
			h.t.Errorf("%s: item %d: got %v, want %v", what, i, errs[i], want[i])
		}
	}
}

func ids(jobs []*store.Job) []store.ID {
	out := make([]store.ID, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// wantIDs checks got against want, in order.
func (h *harness) wantIDs(what string, got []*store.Job, want ...*store.Job) {
	h.t.Helper()
	if g, w := ids(got), ids(want); !slices.Equal(g, w) {
		h.t.Errorf("%s: got jobs %v, want %v", what, g, w)
	}
}

// wantIDSet checks got against want, in any order.
func (h *harness) wantIDSet(what string, got []*store.Job, want ...*store.Job) {
	h.t.Helper()
	g, w := ids(got), ids(want)
	cmp := func(a, b store.ID) int { return a.Compare(b) }
	slices.SortFunc(g, cmp)
	slices.SortFunc(w, cmp)
	if !slices.Equal(g, w) {
		h.t.Errorf("%s: got jobs %v, want %v (any order)", what, g, w)
	}
}

// wantJob checks every field of got against want.
func (h *harness) wantJob(what string, got, want *store.Job) {
	h.t.Helper()
	if d := jobDiff(got, want); len(d) > 0 {
		h.t.Errorf("%s: job %s differs:\n\t%s", what, want.ID, joinLines(d))
	}
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n\t")
		}
		b.WriteString(l)
	}
	return b.String()
}

// jobDiff lists the fields in which got differs from want. Times are
// compared at microsecond precision; nil and empty slices and maps are equal.
func jobDiff(got, want *store.Job) []string {
	if got == nil {
		return []string{"got a nil job"}
	}
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s: got %v, want %v", field, g, w)) }
	addTime := func(field string, g, w time.Time) {
		if !sameTime(g, w) {
			add(field, fmtTime(g), fmtTime(w))
		}
	}
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Kind != want.Kind {
		add("Kind", got.Kind, want.Kind)
	}
	if !bytes.Equal(got.Args, want.Args) {
		add("Args", string(got.Args), string(want.Args))
	}
	if got.Queue != want.Queue {
		add("Queue", got.Queue, want.Queue)
	}
	if got.Priority != want.Priority {
		add("Priority", got.Priority, want.Priority)
	}
	if got.State != want.State {
		add("State", got.State, want.State)
	}
	addTime("RunAt", got.RunAt, want.RunAt)
	if got.Attempt != want.Attempt {
		add("Attempt", got.Attempt, want.Attempt)
	}
	if got.MaxAttempts != want.MaxAttempts {
		add("MaxAttempts", got.MaxAttempts, want.MaxAttempts)
	}
	if got.Timeout != want.Timeout {
		add("Timeout", got.Timeout, want.Timeout)
	}
	if got.UniqueKey != want.UniqueKey {
		add("UniqueKey", got.UniqueKey, want.UniqueKey)
	}
	addTime("UniqueUntil", got.UniqueUntil, want.UniqueUntil)
	if !maps.Equal(got.Metadata, want.Metadata) {
		add("Metadata", got.Metadata, want.Metadata)
	}
	if !slices.Equal(got.Tags, want.Tags) {
		add("Tags", got.Tags, want.Tags)
	}
	addTime("CreatedAt", got.CreatedAt, want.CreatedAt)
	addTime("AttemptedAt", got.AttemptedAt, want.AttemptedAt)
	addTime("FinishedAt", got.FinishedAt, want.FinishedAt)
	if len(got.Errors) != len(want.Errors) {
		add("len(Errors)", len(got.Errors), len(want.Errors))
	} else {
		for i := range got.Errors {
			g, w := got.Errors[i], want.Errors[i]
			if !sameTime(g.At, w.At) || g.Attempt != w.Attempt || g.Message != w.Message || g.Stack != w.Stack {
				add(fmt.Sprintf("Errors[%d]", i), fmtAttemptErr(g), fmtAttemptErr(w))
			}
		}
	}
	if !bytes.Equal(got.Result, want.Result) {
		add("Result", string(got.Result), string(want.Result))
	}
	if got.LeaseHolder != want.LeaseHolder {
		add("LeaseHolder", got.LeaseHolder, want.LeaseHolder)
	}
	if got.LeaseToken != want.LeaseToken {
		add("LeaseToken", got.LeaseToken, want.LeaseToken)
	}
	addTime("LeaseDeadline", got.LeaseDeadline, want.LeaseDeadline)
	return d
}

func fmtAttemptErr(e store.AttemptError) string {
	return fmt.Sprintf("{At: %s, Attempt: %d, Message: %q, Stack: %q}", fmtTime(e.At), e.Attempt, e.Message, e.Stack)
}

// wantNoLease checks that a job that is not running carries no lease.
func (h *harness) wantNoLease(what string, j *store.Job) {
	h.t.Helper()
	if j.LeaseToken != 0 || j.LeaseHolder != "" || !j.LeaseDeadline.IsZero() {
		h.t.Errorf("%s: job %s in state %q still carries a lease (holder %q, token %d, deadline %s); the lease is set only while running",
			what, j.ID, j.State, j.LeaseHolder, j.LeaseToken, fmtTime(j.LeaseDeadline))
	}
}

// wantCounts checks that a queue has a count for every state and that they
// equal want (states missing from want are zero).
func (h *harness) wantCounts(q *store.Queue, want map[store.JobState]int64) {
	h.t.Helper()
	for _, s := range store.AllStates {
		got, ok := q.Counts[s]
		if !ok {
			h.t.Errorf("queue %q: Counts has no entry for state %q (every state must be present)", q.Name, s)
			continue
		}
		if got != want[s] {
			h.t.Errorf("queue %q: Counts[%q] = %d, want %d", q.Name, s, got, want[s])
		}
	}
}

// noPanic runs f and reports a panic as a test error instead of crashing
// the test binary.
func (h *harness) noPanic(what string, f func()) {
	h.t.Helper()
	defer func() {
		if r := recover(); r != nil {
			h.t.Errorf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// okOrInvalid checks that err is nil or matches ErrInvalidArgument.
func (h *harness) okOrInvalid(what string, err error) {
	h.t.Helper()
	if err != nil && !errors.Is(err, store.ErrInvalidArgument) {
		h.t.Errorf("%s: got error %v, want nil or ErrInvalidArgument", what, err)
	}
}
