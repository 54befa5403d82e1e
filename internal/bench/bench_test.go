package bench

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPayloadSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ts, seq int64 }{
		{time.Now().UnixNano(), 0}, {time.Now().UnixNano(), 99_999}, {1, 1}, {time.Now().UnixNano(), 1 << 40},
	} {
		b, err := json.Marshal(NewPayload(tc.ts, tc.seq))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != PayloadSize {
			t.Errorf("payload %s is %d bytes, want %d", b, len(b), PayloadSize)
		}
		var p Payload
		if err := json.Unmarshal(b, &p); err != nil || p.TS != tc.ts || p.Seq != tc.seq {
			t.Errorf("round trip of %s = %+v, %v", b, p, err)
		}
	}
	if k := (Payload{}).Kind(); k != "bench" {
		t.Fatalf("Kind = %q", k)
	}
}

func TestPercentilesNearestRank(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p50, p99, mx := Percentiles(ds)
	if p50 != 50 || p99 != 99 || mx != 100 {
		t.Fatalf("Percentiles(1..100ms) = %v %v %v, want 50 99 100", p50, p99, mx)
	}
	if ds[0] != 100*time.Millisecond {
		t.Fatal("Percentiles sorted its input")
	}
	p50, p99, mx = Percentiles([]time.Duration{3 * time.Millisecond})
	if p50 != 3 || p99 != 3 || mx != 3 {
		t.Fatalf("single sample = %v %v %v", p50, p99, mx)
	}
	if a, b, c := Percentiles(nil); a != 0 || b != 0 || c != 0 {
		t.Fatal("empty sample must give zeros")
	}
	if m := Mean([]time.Duration{time.Millisecond, 3 * time.Millisecond}); m != 2 {
		t.Fatalf("Mean = %v", m)
	}
}

func TestTracker(t *testing.T) {
	t.Parallel()
	tr := newTracker(2)
	for _, s := range []int64{0, 2, 2, 5, 7} { // 1, 3, 4, 6 missing of [0,7); 2 twice; 7 beyond n
		tr.record(s, time.Millisecond)
	}
	lost, dups := tr.check(7)
	if lost != 4 || dups != 2 {
		t.Fatalf("check = lost %d dups %d, want 4 and 2", lost, dups)
	}
	tr.record(-1, 0)
	if _, dups := tr.check(7); dups != 3 {
		t.Fatalf("out-of-range sequence not counted: dups %d", dups)
	}
	if n := len(tr.latencies()); n != 6 {
		t.Fatalf("latencies = %d, want 6", n)
	}
}

func TestParseWorkloadsAndBackend(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"all": Workloads, "": Workloads, "idle": {"idle"}, "drain, steady,drain": {"drain", "steady"},
	} {
		got, err := ParseWorkloads(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseWorkloads(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseWorkloads("drain,nope"); err == nil {
		t.Error("ParseWorkloads accepted nope")
	}
	for _, b := range []string{"embedded", "postgres", "remote"} {
		if err := CheckBackend(b); err != nil {
			t.Error(err)
		}
	}
	if err := CheckBackend("redis"); err == nil || errors.Is(err, ErrBackendUnavailable) {
		t.Errorf("CheckBackend(redis) = %v", err)
	}
}

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	if err := DefaultParams().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Params){
		"jobs":           func(p *Params) { p.Jobs = 0 },
		"batch":          func(p *Params) { p.Batch = 0 },
		"gaps":           func(p *Params) { p.IdleGapMax = p.IdleGapMin - 1 },
		"timeout":        func(p *Params) { p.Timeout = 0 },
		"fanout rate":    func(p *Params) { p.FanoutRate = -1 },
		"fanout backlog": func(p *Params) { p.FanoutBacklog = -1 },
	} {
		p := DefaultParams()
		mod(&p)
		if p.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, p)
		}
	}
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	r := &Result{Backend: "embedded", Workload: "drain", Jobs: 3, Seconds: 1.5, JobsPerS: 2,
		LatencyP50Ms: 1, LatencyP99Ms: 2, Extra: map[string]float64{"insert_jobs_per_s": 10, "weird": nan()}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	for _, k := range []string{"backend", "workload", "jobs", "seconds", "jobs_per_s", "latency_p50_ms",
		"latency_p99_ms", "lost", "duplicates", "insert_jobs_per_s", "fsyncs_per_job", "cpu_user_s", "cpu_sys_s",
		"go_version", "gomaxprocs"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %s in %s", k, b)
		}
	}
	if m["weird"] != nil {
		t.Errorf("NaN must encode as null: %s", b)
	}
	if !strings.HasPrefix(string(b), `{"backend":"embedded","workload":"drain","jobs":3,`) {
		t.Errorf("named fields not first: %s", b)
	}
}

func nan() float64 { var z float64; return z / z }

// TestRunSmall runs every workload with small parameters on real embedded
// stores and checks the figures are sane: nothing lost or duplicated.
func TestRunSmall(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	p.Jobs = 2_000
	p.Duration = time.Second
	p.Producers = 4
	p.IdleJobs = 5
	p.IdleGapMin, p.IdleGapMax = time.Millisecond, 5*time.Millisecond
	p.Settle = 0
	p.Timeout, p.StallTimeout = 2*time.Minute, time.Minute
	dir := t.TempDir()
	var phases []string
	o := Options{Backend: BackendEmbedded, Dir: dir, Params: p,
		Progress: func(phase string, total int64, done func() int64) func() {
			phases = append(phases, phase)
			_ = done()
			return func() {}
		}}
	var results []*Result
	err := Run(t.Context(), o, Workloads, func(r *Result) error {
		results = append(results, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("got %d results, want 3", len(results))
	}
	for _, r := range results {
		t.Run(r.Workload, func(t *testing.T) {
			b, _ := json.Marshal(r)
			t.Logf("%s", b)
			if r.Lost != 0 || r.Duplicates != 0 {
				t.Errorf("lost %d duplicates %d", r.Lost, r.Duplicates)
			}
			if r.Backend != "embedded" || r.Jobs <= 0 || r.Seconds <= 0 || r.JobsPerS <= 0 {
				t.Errorf("bad basics: %s", b)
			}
			if r.LatencyP50Ms <= 0 || r.LatencyP99Ms < r.LatencyP50Ms || r.LatencyMaxMs < r.LatencyP99Ms {
				t.Errorf("latencies not ordered: %s", b)
			}
			if r.GoVersion == "" || r.GOMAXPROCS < 1 {
				t.Errorf("missing environment: %s", b)
			}
			if r.Summary() == "" {
				t.Error("empty summary")
			}
			switch r.Workload {
			case Drain:
				if r.Jobs != p.Jobs || r.Extra["completed_in_store"] != float64(p.Jobs) || r.Extra["insert_jobs_per_s"] <= 0 {
					t.Errorf("drain: %s", b)
				}
			case Steady:
				if r.Extra["inserted_per_s"] <= 0 || r.Extra["latency_sample_size"] != float64(r.Jobs) {
					t.Errorf("steady: %s", b)
				}
				if bl := r.Extra["backlog_at_end"]; bl < 0 || bl > float64(r.Jobs) {
					t.Errorf("steady backlog %v out of range", bl)
				}
			case Idle:
				if r.Jobs != p.IdleJobs || r.Extra["insert_one_p50_ms"] <= 0 {
					t.Errorf("idle: %s", b)
				}
			}
		})
	}
	if !slices.Contains(phases, "insert") || !slices.Contains(phases, "drain") || !slices.Contains(phases, "idle") {
		t.Errorf("progress phases = %v", phases)
	}
}

func TestRunRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	emit := func(*Result) error { return nil }
	if err := Run(ctx, Options{Backend: "remote", ServerURL: "ftp://nowhere", Params: DefaultParams()}, Workloads, emit); err == nil || !strings.Contains(err.Error(), "url") {
		t.Errorf("remote with a malformed URL: %v", err)
	}
	if err := Run(ctx, Options{Backend: "postgres", PostgresURL: "postgres://%zz", Params: DefaultParams()}, Workloads, emit); err == nil || !strings.Contains(err.Error(), "url") {
		t.Errorf("postgres with a malformed URL: %v", err)
	}
	bad := DefaultParams()
	bad.Jobs = 0
	if err := Run(ctx, Options{Params: bad}, Workloads, emit); err == nil {
		t.Error("jobs 0 accepted")
	}
}

// runFanout runs the fanout workload with p on a fresh directory and
// returns its result.
func runFanout(t *testing.T, p Params) *Result {
	t.Helper()
	var got *Result
	err := Run(t.Context(), Options{Dir: t.TempDir(), Params: p, Logger: slog.New(slog.DiscardHandler)}, []string{Fanout}, func(r *Result) error {
		got = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestFanoutPaced runs a small paced fanout: the publishers offer exactly
// FanoutRate events per second for Duration, and every event reaches all
// five subscriptions once.
func TestFanoutPaced(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	p.Duration, p.FanoutRate, p.Producers, p.Concurrency, p.Settle = 500*time.Millisecond, 2000, 2, 10, 0
	got := runFanout(t, p)
	// batch k is due at k x 100/2000 s = k x 50 ms, for k x 50 ms < 500 ms
	if ev := got.Extra["events"]; ev != 1000 {
		t.Errorf("events = %v, want 1000 (10 paced batches of 100)", ev)
	}
	if got.Jobs != 5000 || got.Lost != 0 || got.Duplicates != 0 {
		t.Errorf("deliveries %d, lost %d, duplicates %d; want 5000, 0, 0", got.Jobs, got.Lost, got.Duplicates)
	}
	if got.Extra["fanout_rate"] != 2000 {
		t.Errorf("fanout_rate = %v, want 2000", got.Extra["fanout_rate"])
	}
}

// TestFanoutBacklog runs a small closed-loop fanout with flow control: the
// publishers never get more than FanoutBacklog deliveries (plus one batch
// per publisher that checked at the same time) ahead of the handlers.
func TestFanoutBacklog(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	p.Duration, p.FanoutBacklog, p.Producers, p.Concurrency, p.Settle = 500*time.Millisecond, 2000, 2, 10, 0
	got := runFanout(t, p)
	slack := float64(p.Producers * fanoutBatch * fanoutSubs)
	if b := got.Extra["backlog_at_publish_end"]; b > float64(p.FanoutBacklog)+slack {
		t.Errorf("backlog at publish end = %v, want <= %v + %v", b, p.FanoutBacklog, slack)
	}
	if got.Jobs == 0 || got.Lost != 0 || got.Duplicates != 0 {
		t.Errorf("deliveries %d, lost %d, duplicates %d; want > 0, 0, 0", got.Jobs, got.Lost, got.Duplicates)
	}
	if got.Extra["fanout_backlog"] != 2000 {
		t.Errorf("fanout_backlog = %v, want 2000", got.Extra["fanout_backlog"])
	}
}
