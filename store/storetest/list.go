package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/troikahq/troika/store"
)

func listTests() []test {
	return []test{
		{"FilterQueue", testListFilterQueue},
		{"FilterState", testListFilterState},
		{"FilterKind", testListFilterKind},
		{"FilterTag", testListFilterTag},
		{"FilterCombined", testListFilterCombined},
		{"NoMatch", testListNoMatch},
		{"PaginateAscending", testListPaginateAsc},
		{"PaginateDescending", testListPaginateDesc},
		{"PaginateFiltered", testListPaginateFiltered},
		{"CursorSurvivesDelete", testListCursorSurvivesDelete},
		{"LimitDefault", testListLimitDefault},
		{"LimitCap", testListLimitCap},
	}
}

// listFixture is a small set of jobs, created in this (ID) order:
//
//	a3  queue a  kind k1  tags []     completed
//	b2  queue b  kind k2  tags [x]    dead
//	a1  queue a  kind k1  tags [x]    available
//	a2  queue a  kind k2  tags [x y]  scheduled
//	b1  queue b  kind k1  tags [y]    available
type listFixture struct{ a3, b2, a1, a2, b1 *store.Job }

func (h *harness) listFixture() listFixture {
	h.t.Helper()
	var f listFixture
	f.a3 = h.inState(at(0), store.StateCompleted, withQueue("a"), withKind("k1"))
	f.b2 = h.inState(at(0), store.StateDead, withQueue("b"), withKind("k2"), withTags("x"))
	f.a1 = h.inState(at(0), store.StateAvailable, withQueue("a"), withKind("k1"), withTags("x"))
	f.a2 = h.inState(at(0), store.StateScheduled, withQueue("a"), withKind("k2"), withTags("x", "y"))
	f.b1 = h.inState(at(0), store.StateAvailable, withQueue("b"), withKind("k1"), withTags("y"))
	return f
}

// wantList checks one unpaged JobList call, in order.
func (h *harness) wantList(p store.JobListParams, want ...*store.Job) {
	h.t.Helper()
	res := h.list(p)
	h.wantIDs(fmt.Sprintf("JobList(%+v)", p), res.Jobs, want...)
	if !res.Next.IsZero() {
		h.t.Errorf("JobList(%+v): Next %s on the only page, want zero", p, res.Next)
	}
}

func testListFilterQueue(h *harness) {
	f := h.listFixture()
	h.wantList(store.JobListParams{}, f.a3, f.b2, f.a1, f.a2, f.b1)
	h.wantList(store.JobListParams{Queue: "a"}, f.a3, f.a1, f.a2)
	h.wantList(store.JobListParams{Queue: "b"}, f.b2, f.b1)
	h.wantList(store.JobListParams{Queue: "a", Desc: true}, f.a2, f.a1, f.a3)
}

func testListFilterState(h *harness) {
	f := h.listFixture()
	h.wantList(store.JobListParams{State: store.StateAvailable}, f.a1, f.b1)
	h.wantList(store.JobListParams{State: store.StateScheduled}, f.a2)
	h.wantList(store.JobListParams{State: store.StateCompleted}, f.a3)
	h.wantList(store.JobListParams{State: store.StateDead}, f.b2)
	h.wantList(store.JobListParams{State: store.StateRunning})
}

func testListFilterKind(h *harness) {
	f := h.listFixture()
	h.wantList(store.JobListParams{Kind: "k1"}, f.a3, f.a1, f.b1)
	h.wantList(store.JobListParams{Kind: "k2"}, f.b2, f.a2)
}

func testListFilterTag(h *harness) {
	f := h.listFixture()
	h.wantList(store.JobListParams{Tag: "x"}, f.b2, f.a1, f.a2)
	h.wantList(store.JobListParams{Tag: "y"}, f.a2, f.b1)
}

func testListFilterCombined(h *harness) {
	f := h.listFixture()
	h.wantList(store.JobListParams{Queue: "a", Kind: "k1"}, f.a3, f.a1)
	h.wantList(store.JobListParams{Queue: "b", Tag: "x"}, f.b2)
	h.wantList(store.JobListParams{Kind: "k2", State: store.StateScheduled}, f.a2)
	h.wantList(store.JobListParams{Queue: "a", State: store.StateAvailable, Kind: "k1", Tag: "x"}, f.a1)
	h.wantList(store.JobListParams{State: store.StateAvailable, Tag: "y", Desc: true}, f.b1)
	h.wantList(store.JobListParams{Queue: "b", Kind: "k1", Tag: "x"})
}

func testListNoMatch(h *harness) {
	h.wantList(store.JobListParams{}) // empty store
	h.listFixture()
	h.wantList(store.JobListParams{Tag: "nope"})
	h.wantList(store.JobListParams{Queue: "nope"})
	h.wantList(store.JobListParams{Kind: "nope", Desc: true})
}

// paginate lists p page by page with limit and checks every page.
func (h *harness) paginate(p store.JobListParams, limit int) []*store.Job {
	h.t.Helper()
	p.Limit = limit
	var all []*store.Job
	for page := 0; page < 1000; page++ {
		res := h.list(p)
		if len(res.Jobs) > limit {
			h.t.Fatalf("page %d: %d jobs, Limit %d", page, len(res.Jobs), limit)
		}
		if len(res.Jobs) < limit && !res.Next.IsZero() {
			h.t.Errorf("page %d: a short page (%d of %d) has a Next cursor", page, len(res.Jobs), limit)
		}
		all = append(all, res.Jobs...)
		if res.Next.IsZero() {
			return all
		}
		if len(res.Jobs) == 0 {
			h.t.Fatalf("page %d: empty page with a Next cursor", page)
		}
		p.After = res.Next
	}
	h.t.Fatalf("more than 1000 pages")
	return nil
}

// wantSorted checks that jobs are in strictly ascending (or descending) ID
// order: every job at most once.
func (h *harness) wantSorted(what string, jobs []*store.Job, desc bool) {
	h.t.Helper()
	for i := 1; i < len(jobs); i++ {
		c := jobs[i-1].ID.Compare(jobs[i].ID)
		if (!desc && c >= 0) || (desc && c <= 0) {
			h.t.Errorf("%s: job %d (%s) out of order after %s (desc=%v)", what, i, jobs[i].ID, jobs[i-1].ID, desc)
			return
		}
	}
}

func reversed(jobs []*store.Job) []*store.Job {
	out := make([]*store.Job, len(jobs))
	for i, j := range jobs {
		out[len(jobs)-1-i] = j
	}
	return out
}

// pagedFixture inserts 23 jobs alternating between queues p and q.
func (h *harness) pagedFixture() (all, inP []*store.Job) {
	h.t.Helper()
	for i := range 23 {
		q := "p"
		if i%2 == 1 {
			q = "q"
		}
		j := h.insert1(at(time.Duration(i)*time.Second), withQueue(q))
		all = append(all, j)
		if q == "p" {
			inP = append(inP, j)
		}
	}
	return all, inP
}

// Pages of 5 in ascending order cover every job exactly once, in order;
// the last, short page has no Next.
func testListPaginateAsc(h *harness) {
	all, _ := h.pagedFixture()
	for _, limit := range []int{1, 5, 23, 24} {
		got := h.paginate(store.JobListParams{}, limit)
		h.wantIDs(fmt.Sprintf("ascending pages of %d", limit), got, all...)
	}
}

func testListPaginateDesc(h *harness) {
	all, _ := h.pagedFixture()
	for _, limit := range []int{1, 5, 23, 24} {
		got := h.paginate(store.JobListParams{Desc: true}, limit)
		h.wantIDs(fmt.Sprintf("descending pages of %d", limit), got, reversed(all)...)
	}
}

func testListPaginateFiltered(h *harness) {
	_, inP := h.pagedFixture()
	h.wantIDs("queue p, ascending pages of 5", h.paginate(store.JobListParams{Queue: "p"}, 5), inP...)
	h.wantIDs("queue p, descending pages of 5", h.paginate(store.JobListParams{Queue: "p", Desc: true}, 5), reversed(inP)...)
	h.wantIDs("queue p, ascending pages of 4", h.paginate(store.JobListParams{Queue: "p"}, 4), inP...)
}

// The cursor is a position in ID order, not a handle on a job: it still
// works when the job it names has been deleted.
func testListCursorSurvivesDelete(h *harness) {
	all, _ := h.pagedFixture()
	for _, desc := range []bool{false, true} {
		order := all
		if desc {
			order = reversed(all)
		}
		first := h.list(store.JobListParams{Limit: 5, Desc: desc})
		if first.Next.IsZero() || len(first.Jobs) != 5 {
			h.t.Fatalf("first page (desc=%v): %d jobs, Next %s", desc, len(first.Jobs), first.Next)
		}
		cursor := first.Jobs[4]
		if n, err := h.delete(store.JobDeleteParams{IDs: []store.ID{cursor.ID}}); err != nil || n != 1 {
			h.t.Fatalf("JobDelete(%s): (%d, %v)", cursor.ID, n, err)
		}
		rest := h.listAll(store.JobListParams{After: first.Next, Desc: desc, Limit: 7})
		h.wantIDs(fmt.Sprintf("pages after a deleted cursor (desc=%v)", desc), rest, order[5:]...)
		all = removeID(all, cursor.ID)
	}
}

func removeID(jobs []*store.Job, id store.ID) []*store.Job {
	var out []*store.Job
	for _, j := range jobs {
		if j.ID != id {
			out = append(out, j)
		}
	}
	return out
}

// Limit 0 means 100.
func testListLimitDefault(h *harness) {
	h.insertN(at(0), 150)
	res := h.list(store.JobListParams{})
	if len(res.Jobs) != 100 || res.Next.IsZero() {
		h.t.Errorf("JobList with Limit 0: %d jobs, Next zero = %v; want 100 and a cursor", len(res.Jobs), res.Next.IsZero())
	}
	rest := h.list(store.JobListParams{After: res.Next})
	if len(rest.Jobs) != 50 || !rest.Next.IsZero() {
		h.t.Errorf("second page: %d jobs, Next zero = %v; want 50 and no cursor", len(rest.Jobs), rest.Next.IsZero())
	}
	h.wantSorted("both pages", append(res.Jobs, rest.Jobs...), false)
}

// Limit is capped at 10,000.
func testListLimitCap(h *harness) {
	if testing.Short() {
		h.t.Skip("inserts 10,050 jobs; skipped with -short")
	}
	const n = 10050
	for i := 0; i < n; i += 1000 {
		h.insertN(at(0), min(1000, n-i))
	}
	res := h.list(store.JobListParams{Limit: 50000})
	if len(res.Jobs) != 10000 || res.Next.IsZero() {
		h.t.Errorf("JobList with Limit 50,000: %d jobs, Next zero = %v; want 10,000 and a cursor", len(res.Jobs), res.Next.IsZero())
	}
	h.wantSorted("capped page", res.Jobs, false)
	if rest := h.list(store.JobListParams{After: res.Next, Limit: 50000}); len(rest.Jobs) != 50 {
		h.t.Errorf("second page: %d jobs, want 50", len(rest.Jobs))
	}
}
