package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// result is what one in-process run of the command gave.
type result struct {
	code           int
	stdout, stderr string
}

// runT runs the command in-process with no standard input.
func runT(t *testing.T, args ...string) result {
	t.Helper()
	return troikaIn(t, strings.NewReader(""), args...)
}

// troikaIn runs the command in-process with stdin.
func troikaIn(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, stdin, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// ok fails the test unless r exited 0.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

// exit fails the test unless r exited with code and printed a one-line
// error naming want on stderr.
func (r result) exit(t *testing.T, code int, want string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	first, _, _ := strings.Cut(r.stderr, "\n")
	if !strings.HasPrefix(first, "troika: ") || !strings.Contains(first, want) {
		t.Fatalf("stderr first line %q, want \"troika: …%s…\"", first, want)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("stack trace on stderr: %s", r.stderr)
	}
	return r
}

// decode parses r's stdout as JSON into v.
func (r result) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
}

// compact returns JSON without insignificant space.
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return out.String()
}

// wireJob is the --json job as a script reads it.
type wireJob struct {
	ID          string            `json:"id"`
	Kind        string            `json:"kind"`
	Args        json.RawMessage   `json:"args"`
	Queue       string            `json:"queue"`
	Priority    int               `json:"priority"`
	State       string            `json:"state"`
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"maxAttempts"`
	RunAt       string            `json:"runAt"`
	CreatedAt   string            `json:"createdAt"`
	Metadata    map[string]string `json:"metadata"`
	Tags        []string          `json:"tags"`
	UniqueKey   string            `json:"uniqueKey"`
	Errors      []struct {
		At      string `json:"at"`
		Attempt int    `json:"attempt"`
		Message string `json:"message"`
	} `json:"errors"`
}

type enqueueOut struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Duplicate bool   `json:"duplicate"`
}

// enqueue enqueues a job with --json and returns its result.
func enqueue(t *testing.T, dir string, args ...string) enqueueOut {
	t.Helper()
	var out enqueueOut
	runT(t, append([]string{"enqueue", "--data", dir, "--json"}, args...)...).ok(t).decode(t, &out)
	if out.ID == "" {
		t.Fatalf("enqueue %v gave no id", args)
	}
	return out
}

// countJobs lists every job of dir.
func countJobs(t *testing.T, dir string) int {
	t.Helper()
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return 0
	}
	var page struct{ Jobs []wireJob }
	runT(t, "job", "list", "--data", dir, "--json").ok(t).decode(t, &page)
	return len(page.Jobs)
}

func TestEnqueueGetList(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	res := enqueue(t, dir, "email.send", `{"to":"ada@example.com"}`, "--queue", "emails", "--priority", "1",
		"--max-attempts", "7", "--tag", "a", "--tag", "b,c", "--meta", "tenant=acme", "--meta", "trace=x=y")
	if res.State != "available" || res.Duplicate {
		t.Fatalf("enqueue = %+v", res)
	}

	// The subtests share one data directory, which one Client at a time
	// may open: they run in turn.
	t.Run("get json", func(t *testing.T) {
		var j wireJob
		runT(t, "job", "get", res.ID, "--data", dir, "--json").ok(t).decode(t, &j)
		if j.ID != res.ID || j.Kind != "email.send" || j.Queue != "emails" || j.Priority != 1 || j.MaxAttempts != 7 ||
			j.State != "available" || j.Attempt != 0 || j.RunAt == "" || j.CreatedAt == "" {
			t.Fatalf("job = %+v", j)
		}
		var args map[string]string
		if err := json.Unmarshal(j.Args, &args); err != nil || args["to"] != "ada@example.com" {
			t.Fatalf("args = %s", j.Args)
		}
		if strings.Join(j.Tags, "|") != "a|b,c" || j.Metadata["tenant"] != "acme" || j.Metadata["trace"] != "x=y" {
			t.Fatalf("tags %v metadata %v", j.Tags, j.Metadata)
		}
	})
	t.Run("get table", func(t *testing.T) {
		r := runT(t, "job", "get", res.ID, "--data", dir).ok(t)
		for _, want := range []string{res.ID, "email.send", "emails", "available", "0 of 7", "tenant=acme"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("job get output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("list filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			n    int
		}{
			{"all", nil, 1},
			{"queue", []string{"--queue", "emails"}, 1},
			{"other queue", []string{"--queue", "default"}, 0},
			{"state", []string{"--state", "available"}, 1},
			{"state dead", []string{"--state", "dead"}, 0},
			{"kind", []string{"--kind", "email.send"}, 1},
			{"tag", []string{"--tag", "b,c"}, 1},
			{"tag missing", []string{"--tag", "zzz"}, 0},
			{"desc", []string{"--desc", "--limit", "1"}, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var page struct {
					Jobs       []wireJob `json:"jobs"`
					NextCursor string    `json:"nextCursor"`
				}
				runT(t, append([]string{"job", "list", "--data", dir, "--json"}, tc.args...)...).ok(t).decode(t, &page)
				if len(page.Jobs) != tc.n {
					t.Fatalf("%d jobs, want %d", len(page.Jobs), tc.n)
				}
			})
		}
	})
	t.Run("list table", func(t *testing.T) {
		r := runT(t, "job", "list", "--data", dir).ok(t)
		if !strings.Contains(r.stdout, "ID") || !strings.Contains(r.stdout, res.ID) {
			t.Fatalf("table:\n%s", r.stdout)
		}
	})
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var ids []string
	for range 3 {
		ids = append(ids, enqueue(t, dir, "k").ID)
	}
	var seen []string
	cursor := ""
	for range 4 {
		args := []string{"job", "list", "--data", dir, "--json", "--limit", "2"}
		if cursor != "" {
			args = append(args, "--cursor", cursor)
		}
		var page struct {
			Jobs       []wireJob `json:"jobs"`
			NextCursor string    `json:"nextCursor"`
		}
		runT(t, args...).ok(t).decode(t, &page)
		for _, j := range page.Jobs {
			seen = append(seen, j.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("paged ids %v, want %v", seen, ids)
	}
	r := runT(t, "job", "list", "--data", dir, "--limit", "1").ok(t)
	if !strings.Contains(r.stderr, "--cursor") {
		t.Fatalf("no next-page hint on stderr: %q", r.stderr)
	}
}

func TestUniqueDuplicate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := enqueue(t, dir, "welcome.send", `{"user":42}`, "--unique-key", "welcome:42", "--unique-for", "1h")
	b := enqueue(t, dir, "welcome.send", `{"user":42}`, "--unique-key", "welcome:42")
	if a.Duplicate || !b.Duplicate || a.ID != b.ID {
		t.Fatalf("first %+v, second %+v: want the second a duplicate of the first", a, b)
	}
	r := runT(t, "enqueue", "welcome.send", "--unique-key", "welcome:42", "--data", dir).ok(t)
	if !strings.Contains(r.stdout, "DUPLICATE") || !strings.Contains(r.stdout, "true") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	if n := countJobs(t, dir); n != 1 {
		t.Fatalf("%d jobs stored, want 1", n)
	}
}

func TestEnqueueScheduled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct{ name, flag, value string }{
		{"delay", "--delay", "1h"},
		{"delay days", "--delay", "2d"},
		{"run-at relative", "--run-at", "+1h"},
		{"run-at rfc3339", "--run-at", "2999-01-01T00:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := enqueue(t, dir, "later", tc.flag, tc.value); res.State != "scheduled" {
				t.Fatalf("state %s, want scheduled", res.State)
			}
		})
	}
}

func TestEnqueueArgsFromStdin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var res enqueueOut
	troikaIn(t, strings.NewReader(`{"from":"stdin"}`), "enqueue", "k", "-", "--data", dir, "--json").ok(t).decode(t, &res)
	var j wireJob
	runT(t, "job", "get", res.ID, "--data", dir, "--json").ok(t).decode(t, &j)
	if compact(t, j.Args) != `{"from":"stdin"}` {
		t.Fatalf("args = %s", j.Args)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	enqueue(t, dir, "k")
	missing := "0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00"
	for _, cmd := range []string{"get", "cancel", "retry", "delete"} {
		t.Run(cmd, func(t *testing.T) {
			runT(t, "job", cmd, missing, "--data", dir).exit(t, 3, "not found")
		})
	}
	t.Run("dlq replay id", func(t *testing.T) {
		runT(t, "dlq", "replay", missing, "--data", dir).exit(t, 3, missing)
	})
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"enqeue"}, "unknown command"},
		{"unknown subcommand", []string{"job", "frobnicate"}, "unknown command"},
		{"unknown flag", []string{"enqueue", "k", "--bogus"}, "unknown flag"},
		{"bad priority value", []string{"enqueue", "k", "--priority", "high"}, "priority"},
		{"bad delay", []string{"enqueue", "k", "--delay", "5 minutes"}, "not a duration"},
		{"bad run-at", []string{"enqueue", "k", "--run-at", "tomorrow"}, "not a time"},
		{"bad meta", []string{"enqueue", "k", "--meta", "novalue"}, "key=value"},
		{"delay and run-at", []string{"enqueue", "k", "--delay", "1s", "--run-at", "+1s"}, "delay"},
		{"unique-for alone", []string{"enqueue", "k", "--unique-for", "1h"}, "--unique-key"},
		{"missing kind", []string{"enqueue"}, "arg"},
		{"too many args", []string{"enqueue", "a", "{}", "extra"}, "arg"},
		{"get without id", []string{"job", "get"}, "arg"},
		{"bad state", []string{"job", "list", "--state", "done"}, "not a job state"},
		{"bad limit", []string{"job", "list", "--limit", "0"}, "--limit"},
		{"bad cursor", []string{"job", "list", "--cursor", "nope"}, "--cursor"},
		{"update nothing", []string{"queue", "update", "q"}, "nothing to update"},
		{"bad retention", []string{"queue", "update", "q", "--dead-retention", "soon"}, "not a duration"},
		{"replay ids and filter", []string{"dlq", "replay", "0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00", "--queue", "q"}, "not both"},
		{"bench workload", []string{"bench", "--workload", "nope"}, "unknown workload"},
		{"bench jobs", []string{"bench", "--jobs", "0"}, "jobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			r := runT(t, append(tc.args, "--data", dir)...).exit(t, 2, tc.want)
			if !strings.Contains(r.stderr, "Usage:") {
				t.Errorf("no usage on stderr for a usage error:\n%s", r.stderr)
			}
			if n := countJobs(t, dir); n != 0 {
				t.Errorf("%d jobs enqueued by a failed command", n)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad queue name", []string{"enqueue", "k", "--queue", "Bad Queue!"}, "queue"},
		{"invalid json", []string{"enqueue", "k", "{not json"}, "not valid JSON"},
		{"priority 9", []string{"enqueue", "k", "--priority", "9"}, "priority"},
		{"priority 0", []string{"enqueue", "k", "--priority", "0"}, "priority"},
		{"max attempts 0", []string{"enqueue", "k", "--max-attempts", "0"}, "maxAttempts"},
		{"negative delay", []string{"enqueue", "k", "--delay", "-5s"}, "delay"},
		{"bad id", []string{"job", "get", "not-an-id"}, "not a job id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			r := runT(t, append(tc.args, "--data", dir)...).exit(t, 1, tc.want)
			if strings.Contains(r.stderr, "Usage:") {
				t.Errorf("usage printed for a runtime error:\n%s", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
			if n := countJobs(t, dir); n != 0 {
				t.Errorf("%d jobs enqueued by an invalid command", n)
			}
		})
	}
}

func TestMissingDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nope")
	runT(t, "job", "list", "--data", dir).exit(t, 1, "no data directory")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("a reading command created the data directory")
	}
}

func TestDataFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TROIKA_DATA", dir)
	r := runT(t, "enqueue", "k", "--json").ok(t)
	var res enqueueOut
	r.decode(t, &res)
	runT(t, "job", "get", res.ID, "--data", dir).ok(t)
}

func TestJobCancelRetryDelete(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	id := enqueue(t, dir, "k", "--delay", "1h").ID
	var j wireJob
	runT(t, "job", "cancel", id, "--data", dir, "--json").ok(t).decode(t, &j)
	if j.State != "cancelled" {
		t.Fatalf("after cancel: %s", j.State)
	}
	runT(t, "job", "cancel", id, "--data", dir).exit(t, 1, "cancelled")
	runT(t, "job", "retry", id, "--data", dir).exit(t, 1, "cannot retry")
	r := runT(t, "job", "delete", id, "--data", dir).ok(t)
	if !strings.Contains(r.stdout, "deleted") {
		t.Fatalf("delete output %q", r.stdout)
	}
	runT(t, "job", "get", id, "--data", dir).exit(t, 3, "not found")
}

func TestQueuePauseResumeUpdate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	enqueue(t, dir, "k", "--queue", "emails")
	enqueue(t, dir, "k", "--queue", "emails", "--delay", "1h")

	type queue struct {
		Name               string           `json:"name"`
		Paused             bool             `json:"paused"`
		Counts             map[string]int64 `json:"counts"`
		CompletedRetention string           `json:"completedRetention"`
		DeadRetention      string           `json:"deadRetention"`
	}
	stats := func() queue {
		var q queue
		runT(t, "queue", "stats", "emails", "--data", dir, "--json").ok(t).decode(t, &q)
		return q
	}
	if q := stats(); q.Paused || q.Counts["available"] != 1 || q.Counts["scheduled"] != 1 || len(q.Counts) != 7 {
		t.Fatalf("stats = %+v", q)
	}
	if r := runT(t, "queue", "pause", "emails", "--data", dir).ok(t); !strings.Contains(r.stdout, "paused") {
		t.Fatalf("pause output %q", r.stdout)
	}
	if !stats().Paused {
		t.Fatal("not paused")
	}
	var list struct{ Queues []queue }
	runT(t, "queue", "list", "--data", dir, "--json").ok(t).decode(t, &list)
	if len(list.Queues) != 1 || list.Queues[0].Name != "emails" || !list.Queues[0].Paused {
		t.Fatalf("list = %+v", list)
	}
	r := runT(t, "queue", "list", "--data", dir).ok(t)
	if !strings.Contains(r.stdout, "emails") || !strings.Contains(r.stdout, "yes") || !strings.Contains(r.stdout, "AVAILABLE") {
		t.Fatalf("queue list table:\n%s", r.stdout)
	}
	runT(t, "queue", "resume", "emails", "--data", dir).ok(t)
	if stats().Paused {
		t.Fatal("still paused")
	}
	var q queue
	runT(t, "queue", "update", "emails", "--completed-retention", "1h", "--dead-retention", "30d", "--data", dir, "--json").ok(t).decode(t, &q)
	if q.CompletedRetention != "3600s" || q.DeadRetention != "2592000s" {
		t.Fatalf("after update: %+v", q)
	}
	if r := runT(t, "queue", "stats", "emails", "--data", dir).ok(t); !strings.Contains(r.stdout, "30d") {
		t.Fatalf("stats table:\n%s", r.stdout)
	}
	runT(t, "queue", "pause", "Bad!", "--data", dir).exit(t, 1, "queue")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var v struct {
		Version   string `json:"version"`
		GoVersion string `json:"goVersion"`
	}
	runT(t, "version", "--json").ok(t).decode(t, &v)
	if v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") {
		t.Fatalf("version = %+v", v)
	}
	if r := runT(t, "version").ok(t); !strings.HasPrefix(r.stdout, "troika ") {
		t.Fatalf("version: %q", r.stdout)
	}
	runT(t, "version", "--server", "http://x").ok(t) // version needs no server
	runT(t, "job", "list", "--server", "http://127.0.0.1:7600", "--data", t.TempDir()).exit(t, 2, "exclusive")
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"--help"}, {"job"}, {"dlq", "--help"}} {
		t.Run(strings.Join(append([]string{"troika"}, args...), " "), func(t *testing.T) {
			t.Parallel()
			if r := runT(t, args...).ok(t); !strings.Contains(r.stdout, "Usage:") {
				t.Fatalf("help:\n%s", r.stdout)
			}
		})
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runT(t, "demo", "--time-scale", "0.05", "--data", dir).ok(t)
	for _, want := range []string{"enqueue", "duplicate", "retry in", "dead (attempts exhausted)", "failed permanently",
		"completed", "Dead-letter queue: 2 jobs", "ledger mismatch", "ran 1 time"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", r.stdout)
	}
	// The store agrees with the story: what the demo left is there.
	var page struct{ Jobs []wireJob }
	runT(t, "dlq", "list", "--data", dir, "--json").ok(t).decode(t, &page)
	if len(page.Jobs) != 2 {
		t.Fatalf("%d dead jobs, want 2", len(page.Jobs))
	}
	for _, j := range page.Jobs {
		if j.State != "dead" || len(j.Errors) == 0 {
			t.Errorf("dead job %+v", j)
		}
	}
	var done struct{ Jobs []wireJob }
	runT(t, "job", "list", "--state", "completed", "--data", dir, "--json").ok(t).decode(t, &done)
	if len(done.Jobs) != 6 {
		t.Errorf("%d completed jobs, want 6 (4 emails, a report, a webhook)", len(done.Jobs))
	}

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		var s struct {
			Queues []struct{ Name string }
			Dead   []wireJob
		}
		runT(t, "demo", "--time-scale", "0.05", "--json").ok(t).decode(t, &s)
		if len(s.Dead) != 2 || len(s.Queues) != 4 {
			t.Fatalf("demo --json = %+v", s)
		}
	})
}
