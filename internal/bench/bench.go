package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/troikahq/troika"
)

// The workloads.
const (
	Drain  = "drain"
	Steady = "steady"
	Idle   = "idle"
)

// Workloads lists every workload in the order "all" runs them.
var Workloads = []string{Drain, Steady, Idle}

// Backends that Run accepts. Only the embedded store exists in this build.
const BackendEmbedded = "embedded"

// ErrBackendUnavailable is returned for a backend that this build does not
// have yet (postgres, remote).
var ErrBackendUnavailable = errors.New("not available yet")

// Params are the workload parameters; DefaultParams are the peer harness's.
type Params struct {
	Jobs        int           // drain: jobs inserted, then drained
	Batch       int           // drain: jobs per EnqueueMany call
	Concurrency int           // drain, steady: worker concurrency
	Producers   int           // steady: producer goroutines, single Enqueue calls
	Duration    time.Duration // steady: producing window
	// FanoutRate paces the fanout workload's publishers to this many
	// events per second in all (an open-loop offered load: a publisher
	// that falls behind its schedule publishes at once); 0 means closed
	// loop, every publisher as fast as it can (the default).
	FanoutRate int
	// FanoutBacklog is the closed-loop fanout's flow control: a publisher
	// waits while more than this many deliveries are published and not yet
	// handled, as a publisher behind a bounded queue would. 0 means no
	// bound: the publishers run ahead of the workers and the backlog grows
	// for the whole window (a measure of draining a large backlog).
	// Ignored when FanoutRate paces the publishers.
	FanoutBacklog int
	IdleJobs      int // idle: jobs, one at a time
	// IdleConcurrency is the idle worker's concurrency; 0 means the SDK's
	// default (the peer harness runs idle with library defaults).
	IdleConcurrency int
	IdleGapMin      time.Duration // idle: random pause before each job, min
	IdleGapMax      time.Duration // idle: random pause before each job, max (exclusive)
	Settle          time.Duration // steady, idle: pause after starting the worker before timing
	// Timeout bounds each waiting phase (the drain, the steady tail, one
	// idle job); a phase in which nothing progresses for StallTimeout
	// fails sooner.
	Timeout      time.Duration
	StallTimeout time.Duration
}

// DefaultParams returns the peer harness's parameters.
func DefaultParams() Params {
	return Params{
		Jobs: 100_000, Batch: 1_000, Concurrency: 100, Producers: 8, Duration: 20 * time.Second,
		FanoutBacklog: 100_000,
		IdleJobs:      200, IdleGapMin: 100 * time.Millisecond, IdleGapMax: 1600 * time.Millisecond,
		Settle: 2 * time.Second, Timeout: 20 * time.Minute, StallTimeout: time.Minute,
	}
}

// Validate reports the first parameter out of range.
func (p Params) Validate() error {
	switch {
	case p.Jobs < 1:
		return errors.New("jobs must be at least 1")
	case p.Batch < 1:
		return errors.New("batch must be at least 1")
	case p.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case p.Producers < 1:
		return errors.New("producers must be at least 1")
	case p.Duration <= 0:
		return errors.New("duration must be positive")
	case p.FanoutRate < 0:
		return errors.New("fanout rate must not be negative")
	case p.FanoutBacklog < 0:
		return errors.New("fanout backlog must not be negative")
	case p.IdleJobs < 1:
		return errors.New("idle jobs must be at least 1")
	case p.IdleConcurrency < 0:
		return errors.New("idle concurrency must not be negative")
	case p.IdleGapMin < 0 || p.IdleGapMax < p.IdleGapMin:
		return errors.New("idle gaps must satisfy 0 <= min <= max")
	case p.Settle < 0:
		return errors.New("settle must not be negative")
	case p.Timeout <= 0 || p.StallTimeout <= 0:
		return errors.New("timeouts must be positive")
	}
	return nil
}

// ProgressFunc starts showing the progress of a phase: done reports how far
// it is out of total (total <= 0: unknown). It is polled by the caller's own
// goroutine, never on the measured path. The returned function ends it.
type ProgressFunc func(phase string, total int64, done func() int64) (stop func())

// Options configure Run.
type Options struct {
	Backend string // "embedded" (default); "postgres" and "remote" give ErrBackendUnavailable
	// Dir is where each workload's fresh data directory is made (and kept).
	// Empty: a temporary directory, removed after the workload.
	Dir      string
	Params   Params
	Progress ProgressFunc // nil: no progress shown
	// PostgresURL is the database of the postgres backend; empty:
	// $TROIKA_POSTGRES_URL.
	PostgresURL string
	Logger      *slog.Logger // the SDK's logger; nil: warnings to stderr
	// ServerURL is the server of the remote backend; empty: one started in
	// this process on a loopback port. Token is its bearer token.
	ServerURL string
	Token     string
}

// Result is one workload's figures. The named fields are present for every
// workload; Extra holds the workload's own metrics and parameters. It
// encodes as one flat JSON object with snake_case names, named fields first.
type Result struct {
	Backend  string
	Workload string
	Jobs     int     // jobs measured: drain N, steady jobs inserted in the window, idle jobs
	Seconds  float64 // the timed phase: drain time, the steady window, the idle run
	JobsPerS float64 // drain and steady: completed/s; idle: jobs/Seconds
	// Latencies from the enqueue time in the payload to the handler's
	// start, nearest-rank, in ms.
	LatencyP50Ms float64
	LatencyP99Ms float64
	LatencyMaxMs float64
	Lost         int // sequence numbers enqueued but never handled
	Duplicates   int // extra handler runs of a sequence number
	// FsyncsPerJob is store syncs (group commits share one) during the
	// timed phases divided by Jobs.
	FsyncsPerJob float64
	CPUUserS     float64 // this process's CPU during the timed phases
	CPUSysS      float64
	GoVersion    string
	GOMAXPROCS   int
	NumCPU       int
	Extra        map[string]float64
}

// MarshalJSON encodes r as one flat object: named fields in a fixed order,
// then Extra in key order. Non-finite numbers encode as null.
func (r *Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	field := func(k string, v any) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if f, ok := v.(float64); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				b.WriteString("null")
				return
			}
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
			return
		}
		vb, _ := json.Marshal(v)
		b.Write(vb)
	}
	field("backend", r.Backend)
	field("workload", r.Workload)
	field("jobs", r.Jobs)
	field("seconds", r.Seconds)
	field("jobs_per_s", r.JobsPerS)
	field("latency_p50_ms", r.LatencyP50Ms)
	field("latency_p99_ms", r.LatencyP99Ms)
	field("latency_max_ms", r.LatencyMaxMs)
	field("lost", r.Lost)
	field("duplicates", r.Duplicates)
	field("fsyncs_per_job", r.FsyncsPerJob)
	field("cpu_user_s", r.CPUUserS)
	field("cpu_sys_s", r.CPUSysS)
	field("go_version", r.GoVersion)
	field("gomaxprocs", r.GOMAXPROCS)
	field("num_cpu", r.NumCPU)
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		field(k, r.Extra[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Summary renders r for people, a few lines.
func (r *Result) Summary() string {
	var b strings.Builder
	x := func(k string) float64 { return r.Extra[k] }
	fmt.Fprintf(&b, "%s (%s, GOMAXPROCS %d, %s)\n", r.Workload, r.Backend, r.GOMAXPROCS, r.GoVersion)
	switch r.Workload {
	case Drain:
		fmt.Fprintf(&b, "  insert     %d jobs in batches of %.0f: %s jobs/s (%.2fs, %.3f fsyncs/job)\n",
			r.Jobs, x("batch"), thousands(x("insert_jobs_per_s")), x("insert_seconds"), x("insert_fsyncs_per_job"))
		fmt.Fprintf(&b, "  drain      %s jobs/s at concurrency %.0f (%.2fs, %.3f fsyncs/job)\n",
			thousands(r.JobsPerS), x("concurrency"), r.Seconds, x("drain_fsyncs_per_job"))
		fmt.Fprintf(&b, "  latency    enqueue -> start p50 %s, p99 %s, max %s (queueing behind the backlog)\n",
			msStr(r.LatencyP50Ms), msStr(r.LatencyP99Ms), msStr(r.LatencyMaxMs))
	case Steady:
		fmt.Fprintf(&b, "  %.0f producers x single Enqueue, %.0fs, concurrency %.0f\n", x("producers"), x("duration_s"), x("concurrency"))
		fmt.Fprintf(&b, "  throughput inserted %s/s, completed %s/s, backlog at end %.0f, tail drained in %.2fs\n",
			thousands(x("inserted_per_s")), thousands(x("completed_per_s")), x("backlog_at_end"), x("tail_drain_s"))
		fmt.Fprintf(&b, "  latency    enqueue -> start p50 %s, p99 %s, max %s (%d jobs)\n",
			msStr(r.LatencyP50Ms), msStr(r.LatencyP99Ms), msStr(r.LatencyMaxMs), r.Jobs)
		fmt.Fprintf(&b, "  fsyncs     %.3f per job\n", r.FsyncsPerJob)
	case Idle:
		fmt.Fprintf(&b, "  %d jobs one at a time, %.0f-%.0f ms apart\n", r.Jobs, x("idle_gap_min_ms"), x("idle_gap_max_ms"))
		fmt.Fprintf(&b, "  latency    enqueue -> start p50 %s, p99 %s, max %s, mean %s\n",
			msStr(r.LatencyP50Ms), msStr(r.LatencyP99Ms), msStr(r.LatencyMaxMs), msStr(x("latency_mean_ms")))
		fmt.Fprintf(&b, "  enqueue    one durable Enqueue p50 %s, p99 %s\n", msStr(x("insert_one_p50_ms")), msStr(x("insert_one_p99_ms")))
	case Fanout:
		fanoutSummary(&b, r) // fanout.go
	}
	fmt.Fprintf(&b, "  checks     lost %d, duplicates %d; cpu user %.2fs sys %.2fs\n", r.Lost, r.Duplicates, r.CPUUserS, r.CPUSysS)
	return b.String()
}

// msStr formats milliseconds for people.
func msStr(v float64) string {
	switch {
	case v >= 10_000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.3f ms", v)
	}
}

// thousands formats v rounded, with thin separators: 123,456.
func thousands(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// ParseWorkloads turns a --workload value (a workload, "all", or a comma
// list) into workload names.
func ParseWorkloads(s string) ([]string, error) {
	if s == "" || s == "all" {
		return slices.Clone(Workloads), nil
	}
	var out []string
	for w := range strings.SplitSeq(s, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(Workloads, w) && w != Fanout { // fanout.go: run by name, not by "all"
			return nil, fmt.Errorf("unknown workload %q (want drain, steady, idle, fanout or all)", w)
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out, nil
}

// CheckBackend returns nil for a backend this build can run.
func CheckBackend(backend string) error {
	switch backend {
	case "", BackendEmbedded, BackendPostgres, BackendRemote:
		return nil
	}
	return fmt.Errorf("unknown backend %q (want embedded, postgres or remote)", backend)
}

// Run runs the workloads in order, each on a fresh embedded store, and
// calls emit with each result as soon as it is ready.
func Run(ctx context.Context, o Options, workloads []string, emit func(*Result) error) error {
	if err := CheckBackend(o.Backend); err != nil {
		return err
	}
	if err := o.Params.Validate(); err != nil {
		return err
	}
	for _, w := range workloads {
		r, err := runOne(ctx, o, w)
		if err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

// runOne opens a fresh store, runs one workload and closes the store.
func runOne(ctx context.Context, o Options, workload string) (res *Result, err error) {
	if o.Backend == BackendPostgres {
		return runPostgres(ctx, o, workload)
	}
	if o.Backend == BackendRemote {
		return runRemote(ctx, o, workload)
	}
	var dir string
	if o.Dir == "" {
		dir, err = os.MkdirTemp("", "troika-bench-"+workload+"-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, err
		}
		dir, err = os.MkdirTemp(o.Dir, "bench-"+workload+"-")
		if err != nil {
			return nil, err
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c, err := troika.Open(ctx, troika.Config{Dir: dir, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	return runWith(ctx, o, c, logger, BackendEmbedded, workload)
}

// runWith runs one workload on an open Client.
func runWith(ctx context.Context, o Options, c *troika.Client, logger *slog.Logger, backend, workload string) (res *Result, err error) {
	r := &runner{c: c, p: o.Params, progress: o.Progress, logger: logger}
	switch workload {
	case Drain:
		res, err = r.drain(ctx)
	case Steady:
		res, err = r.steady(ctx)
	case Idle:
		res, err = r.idle(ctx)
	case Fanout:
		res, err = r.fanout(ctx) // fanout.go
	default:
		return nil, fmt.Errorf("unknown workload %q", workload)
	}
	if err != nil {
		return nil, err
	}
	res.Backend = backend
	res.Workload = workload
	res.GoVersion = runtime.Version()
	res.GOMAXPROCS = runtime.GOMAXPROCS(0)
	res.NumCPU = runtime.NumCPU()
	return res, nil
}
