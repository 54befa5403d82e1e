package main

import (
	"github.com/troikahq/troika/internal/cli"
	"strings"
	"testing"
)

// deadJobs makes a data directory holding dead jobs by running the demo in it
// (two dead jobs: payment.reconcile and image.resize, queue default).
func deadJobs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	runT(t, "demo", "--time-scale", "0.05", "--data", dir, "--json").ok(t)
	return dir
}

type dlqOut struct {
	Replayed *int     `json:"replayed"`
	Purged   *int     `json:"purged"`
	IDs      []string `json:"ids"`
}

func deadIDs(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	var page struct{ Jobs []wireJob }
	runT(t, append([]string{"dlq", "list", "--data", dir, "--json"}, args...)...).ok(t).decode(t, &page)
	var ids []string
	for _, j := range page.Jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

func TestDLQ(t *testing.T) {
	t.Parallel()
	t.Run("list", func(t *testing.T) {
		t.Parallel()
		dir := deadJobs(t)
		if ids := deadIDs(t, dir, "--kind", "image.resize"); len(ids) != 1 {
			t.Fatalf("dead image.resize jobs: %v", ids)
		}
		r := runT(t, "dlq", "list", "--data", dir).ok(t)
		if !strings.Contains(r.stdout, "LAST ERROR") || !strings.Contains(r.stdout, "ledger mismatch") {
			t.Fatalf("dlq list table:\n%s", r.stdout)
		}
	})
	t.Run("replay by filter", func(t *testing.T) {
		t.Parallel()
		dir := deadJobs(t)
		var out dlqOut
		runT(t, "dlq", "replay", "--kind", "payment.reconcile", "--data", dir, "--json").ok(t).decode(t, &out)
		if out.Replayed == nil || *out.Replayed != 1 {
			t.Fatalf("replay = %+v", out)
		}
		if ids := deadIDs(t, dir); len(ids) != 1 {
			t.Fatalf("dead after replay: %v", ids)
		}
		var page struct{ Jobs []wireJob }
		runT(t, "job", "list", "--state", "available", "--data", dir, "--json").ok(t).decode(t, &page)
		if len(page.Jobs) != 1 || page.Jobs[0].Kind != "payment.reconcile" || page.Jobs[0].Attempt != 0 || len(page.Jobs[0].Errors) != 3 {
			t.Fatalf("replayed job: %+v", page.Jobs)
		}
	})
	t.Run("replay by id", func(t *testing.T) {
		t.Parallel()
		dir := deadJobs(t)
		ids := deadIDs(t, dir)
		r := runT(t, "dlq", "replay", ids[0], ids[1], "--data", dir).ok(t)
		if !strings.Contains(r.stdout, "replayed 2") {
			t.Fatalf("output %q", r.stdout)
		}
		if left := deadIDs(t, dir); len(left) != 0 {
			t.Fatalf("still dead: %v", left)
		}
		// Replaying a job that is no longer dead fails, as a wrong state.
		runT(t, "dlq", "replay", ids[0], "--data", dir).exit(t, 1, "cannot retry")
	})
	t.Run("purge with yes", func(t *testing.T) {
		t.Parallel()
		dir := deadJobs(t)
		var out dlqOut
		runT(t, "dlq", "purge", "--queue", "default", "--kind", "image.resize", "--yes", "--data", dir, "--json").ok(t).decode(t, &out)
		if out.Purged == nil || *out.Purged != 1 {
			t.Fatalf("purge = %+v", out)
		}
		if ids := deadIDs(t, dir); len(ids) != 1 {
			t.Fatalf("dead after purge: %v", ids)
		}
	})
	t.Run("purge refuses without yes off a terminal", func(t *testing.T) {
		t.Parallel()
		dir := deadJobs(t)
		runT(t, "dlq", "purge", "--data", dir).exit(t, 1, "--yes")
		if ids := deadIDs(t, dir); len(ids) != 2 {
			t.Fatalf("purge without --yes deleted jobs: %v left", ids)
		}
	})
	t.Run("purge asks on a terminal", func(t *testing.T) {
		t.Parallel()
		dir := deadJobs(t)
		for _, tc := range []struct {
			answer string
			code   int
			left   int
		}{{"n\n", 1, 2}, {"\n", 1, 2}, {"yes\n", 0, 0}} {
			var out, errb strings.Builder
			a := newApp(strings.NewReader(tc.answer), &out, &errb)
			a.stdinTerminal = func() bool { return true }
			root := a.rootCmd()
			root.SetArgs([]string{"dlq", "purge", "--data", dir})
			code := 0
			if err := root.Execute(); err != nil {
				code = cli.ExitCode(err)
			}
			if code != tc.code {
				t.Fatalf("answer %q: exit %d, want %d (stderr %q)", tc.answer, code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), "Delete 2 dead jobs") {
				t.Fatalf("prompt %q", errb.String())
			}
			if left := deadIDs(t, dir); len(left) != tc.left {
				t.Fatalf("answer %q: %d dead left, want %d", tc.answer, len(left), tc.left)
			}
		}
	})
}
