package postgres

import (
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/troikahq/troika/internal/engine"
	"github.com/troikahq/troika/store"
)

var schedBase = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func testDefinition(id string) store.ScheduleDefinition {
	return store.ScheduleDefinition{
		ID: id, Spec: "* * * * * *", MisfirePolicy: store.MisfireRunOnce, OverlapPolicy: store.OverlapAllow,
		Job: store.JobTemplate{Kind: "tick", Args: []byte(`{"b": 1,  "a":[2]}`), Queue: "default", Priority: 2, MaxAttempts: 3},
	}
}

func createSchedule(t *testing.T, s *Store, d store.ScheduleDefinition, next time.Time) {
	t.Helper()
	if _, err := s.ScheduleUpsert(t.Context(), &store.ScheduleUpsertParams{Definition: d, NextFireAt: next, Now: schedBase}); err != nil {
		t.Fatalf("ScheduleUpsert(%q): %v", d.ID, err)
	}
}

func countJobs(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{s.schema}.Sanitize()+".jobs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestScheduleFireIsAtomic: when the database rejects a fire's job, the
// schedule does not advance and no job of the fire exists.
func TestScheduleFireIsAtomic(t *testing.T) {
	t.Parallel()
	s := openTest(t, Options{})
	createSchedule(t, s, testDefinition("s"), schedBase.Add(time.Second))
	instant := schedBase.Add(time.Second)
	good := &store.InsertJob{Kind: "tick", Queue: "default", Priority: 2, MaxAttempts: 3, RunAt: instant,
		UniqueKey: "troika:schedule:s:good", UniqueUntil: instant.Add(time.Hour)}
	bad := *good
	bad.UniqueKey, bad.Args = "troika:schedule:s:bad", []byte("{not json") // the json column refuses it
	_, err := s.ScheduleFire(t.Context(), &store.ScheduleFireParams{ID: "s", ExpectNextFireAt: instant,
		Fires: []store.ScheduleFireItem{
			{Instant: instant, Outcome: store.FireEnqueued, Job: good},
			{Instant: instant.Add(time.Second), Outcome: store.FireEnqueued, Job: &bad},
		}, LastFireAt: instant.Add(time.Second), NextFireAt: instant.Add(2 * time.Second), Now: instant})
	if !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("fire with a job the database rejects: %v, want ErrInvalidArgument", err)
	}
	if n := countJobs(t, s); n != 0 {
		t.Errorf("a failed fire left %d jobs", n)
	}
	sc, err := s.ScheduleGet(t.Context(), &store.ScheduleGetParams{ID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if !sc.NextFireAt.Equal(instant) || !sc.LastFireAt.IsZero() || len(sc.Fires) != 0 {
		t.Errorf("a failed fire changed the schedule: next %s last %s fires %d", sc.NextFireAt, sc.LastFireAt, len(sc.Fires))
	}
}

// TestScheduleStoresFaithfully: args byte for byte, times at microseconds,
// and text PostgreSQL cannot hold is refused up front, naming the field.
func TestScheduleStoresFaithfully(t *testing.T) {
	t.Parallel()
	t.Run("ArgsByteForByte", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, Options{})
		d := testDefinition("args")
		d.StartAt = schedBase.Add(1234567 * time.Nanosecond)
		createSchedule(t, s, d, schedBase.Add(time.Second))
		sc, err := s.ScheduleGet(t.Context(), &store.ScheduleGetParams{ID: "args"})
		if err != nil {
			t.Fatal(err)
		}
		if string(sc.Job.Args) != string(d.Job.Args) {
			t.Errorf("args %q, want %q byte for byte", sc.Job.Args, d.Job.Args)
		}
		if want := schedBase.Add(1234 * time.Microsecond); !sc.StartAt.Equal(want) {
			t.Errorf("StartAt %s, want %s (microseconds kept)", sc.StartAt, want)
		}
		res, err := s.ScheduleUpsert(t.Context(), &store.ScheduleUpsertParams{Definition: d, NextFireAt: schedBase.Add(time.Hour), Now: schedBase})
		if err != nil || res.Changed {
			t.Errorf("re-upserting a definition with nanoseconds: Changed %v, %v; want a no-op", res != nil && res.Changed, err)
		}
	})
	t.Run("BadTextRefused", func(t *testing.T) {
		t.Parallel()
		s := openTest(t, Options{})
		for field, mod := range map[string]func(*store.ScheduleDefinition){
			"id":           func(d *store.ScheduleDefinition) { d.ID = "a\x00b" },
			"spec":         func(d *store.ScheduleDefinition) { d.Spec = "\xff" },
			"timeZone":     func(d *store.ScheduleDefinition) { d.TimeZone = "Europe/\x00" },
			"job.kind":     func(d *store.ScheduleDefinition) { d.Job.Kind = "k\x00" },
			"job.metadata": func(d *store.ScheduleDefinition) { d.Job.Metadata = map[string]string{"k": "v\x00"} },
			"job.tags":     func(d *store.ScheduleDefinition) { d.Job.Tags = []string{"\xfe"} },
			"id ":          func(d *store.ScheduleDefinition) { d.ID = strings.Repeat("x", 257) },
		} {
			d := testDefinition("bad")
			mod(&d)
			_, err := s.ScheduleUpsert(t.Context(), &store.ScheduleUpsertParams{Definition: d, Now: schedBase})
			var ie *store.InvalidArgumentError
			if !errors.As(err, &ie) || ie.Field != strings.TrimSpace(field) {
				t.Errorf("upsert with bad %s: %v, want an InvalidArgumentError for that field", field, err)
			}
		}
		if list, err := s.ScheduleList(t.Context(), &store.ScheduleListParams{}); err != nil || len(list) != 0 {
			t.Errorf("after refused upserts: %d schedules, %v", len(list), err)
		}
	})
}

// TestScheduleMigrationUpgradesVersion1: a database migrated by a binary
// without schedules gets the schedules table from Migrate, and the printed
// SQL carries it.
func TestScheduleMigrationUpgradesVersion1(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	schema := freshSchema(t, pool)
	q := pgx.Identifier{schema}.Sanitize()
	v1 := Migrations()[0]
	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		for _, sql := range []string{"CREATE SCHEMA " + q, strings.ReplaceAll(versionTable, "%s", q), v1.SQL(schema)} {
			if _, err := tx.Exec(t.Context(), sql); err != nil {
				return err
			}
		}
		_, err := tx.Exec(t.Context(), "INSERT INTO "+q+".schema_migrations (version, name) VALUES (1, $1)", v1.Name)
		return err
	})
	if err != nil {
		t.Fatalf("setting up a version 1 schema: %v", err)
	}
	applied, err := MigrateUp(t.Context(), pool, schema)
	if err != nil || len(applied) == 0 || applied[0] != 2 {
		t.Fatalf("MigrateUp from version 1: %v, %v; want 2 applied first", applied, err)
	}
	s := openTest(t, Options{Schema: schema, SkipMigrate: true})
	createSchedule(t, s, testDefinition("after-upgrade"), schedBase.Add(time.Second))
	sql, err := MigrationSQL(schema)
	if err != nil || !strings.Contains(sql, "CREATE TABLE "+q+".schedules") || !strings.Contains(sql, "'0002_schedules.sql'") {
		t.Errorf("MigrationSQL does not carry migration 2 (err %v)", err)
	}
}

// TestScheduleTwoNodesOneJobPerInstant: two stores on one schema (two
// nodes), each with a firer that ignores leadership, fire an every-second
// schedule concurrently: each instant becomes exactly one job and nothing
// is missed.
func TestScheduleTwoNodesOneJobPerInstant(t *testing.T) {
	t.Parallel()
	a := openTest(t, Options{})
	b := openTest(t, Options{Schema: a.Schema()})
	var mu sync.Mutex
	now := schedBase
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	in := &engine.ScheduleInput{ID: "s", Spec: "* * * * * *", MisfirePolicy: store.MisfireCatchUp, CatchUpLimit: 1000, Kind: "tick"}
	if _, err := engine.UpsertSchedule(t.Context(), a, in, nil, "", clock(), engine.Limits{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var firers []*engine.Scheduler
	for _, st := range []*Store{a, a, b, b} {
		firers = append(firers, engine.NewScheduler(engine.SchedulerConfig{Store: st, Schedules: st, Now: clock, Logger: log}))
	}
	const steps = 20
	for step := 1; step <= steps; step++ {
		mu.Lock()
		now = schedBase.Add(time.Duration(step) * 1500 * time.Millisecond)
		mu.Unlock()
		var wg sync.WaitGroup
		for _, f := range firers {
			wg.Go(func() {
				if _, err := f.Pass(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	rows, err := a.pool.Query(t.Context(), "SELECT unique_key, count(*) FROM "+pgx.Identifier{a.schema}.Sanitize()+".jobs GROUP BY 1")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		seen[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != steps*3/2 {
		t.Errorf("%d distinct instants fired over %ds of an every-second schedule, want %d", len(seen), steps*3/2, steps*3/2)
	}
	var conflicts int64
	for _, f := range firers {
		conflicts += f.Stats().Conflicts
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("instant %s has %d jobs", k, n)
		}
	}
	t.Logf("%d instants, %d lost compare-and-sets among %d firers", len(seen), conflicts, len(firers))
}

// BenchmarkScheduleFire measures one ScheduleFire (lock, compare-and-set,
// one unique job, history) of one schedule; one op is one fire.
func BenchmarkScheduleFire(b *testing.B) {
	s := openTest(b, Options{})
	d := testDefinition("bench")
	if _, err := s.ScheduleUpsert(b.Context(), &store.ScheduleUpsertParams{Definition: d, NextFireAt: schedBase, Now: schedBase}); err != nil {
		b.Fatal(err)
	}
	instant := schedBase
	for b.Loop() {
		next := instant.Add(time.Second)
		j := engine.FireJob(&d, instant)
		if _, err := s.ScheduleFire(b.Context(), &store.ScheduleFireParams{ID: "bench", ExpectNextFireAt: instant,
			Fires:      []store.ScheduleFireItem{{Instant: instant, Outcome: store.FireEnqueued, Job: j}},
			LastFireAt: instant, NextFireAt: next, Now: instant}); err != nil {
			b.Fatal(err)
		}
		instant = next
	}
}

// BenchmarkSchedulePass measures the engine's pass over 50 every-second
// schedules that are all due (what the leader does each second in the
// multi-node test); one op is one pass, 50 fires.
func BenchmarkSchedulePass(b *testing.B) {
	s := openTest(b, Options{})
	now := schedBase
	clock := func() time.Time { return now }
	for i := range 50 {
		in := &engine.ScheduleInput{ID: "s" + strconv.Itoa(i), Spec: "* * * * * *", Kind: "tick"}
		if _, err := engine.UpsertSchedule(b.Context(), s, in, nil, "", now, engine.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	sched := engine.NewScheduler(engine.SchedulerConfig{Store: s, Schedules: s, Now: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for b.Loop() {
		now = now.Add(time.Second)
		if _, err := sched.Pass(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	if st := sched.Stats(); st.Enqueued != int64(50*b.N) || st.Conflicts != 0 {
		b.Fatalf("%d fires (%d conflicts) over %d passes of 50 schedules", st.Enqueued, st.Conflicts, b.N)
	}
}
