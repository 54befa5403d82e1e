package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgURLForTest returns the test database URL, skipping the test when it is
// unreachable (failing it with CI=true).
func pgURLForTest(t *testing.T) string {
	t.Helper()
	url := os.Getenv("TROIKA_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable (CI=true, so this fails): %v", url, err)
		}
		t.Skipf("PostgreSQL at %s is unreachable: %v", url, err)
	}
	_ = conn.Close(ctx)
	return url
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	t.Run("UpThenUpToDate", func(t *testing.T) {
		t.Parallel()
		url := pgURLForTest(t)
		var r [6]byte
		_, _ = rand.Read(r[:])
		schema := "cli_" + hex.EncodeToString(r[:])
		t.Cleanup(func() {
			conn, err := pgx.Connect(context.Background(), url)
			if err == nil {
				_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
				_ = conn.Close(context.Background())
			}
		})
		var first, second migrateResult
		runT(t, "migrate", "up", "--postgres", url, "--schema", schema, "--json").ok(t).decode(t, &first)
		if first.Schema != schema || len(first.Applied) == 0 || first.Version != first.Applied[len(first.Applied)-1] {
			t.Errorf("first migrate up: %+v, want every migration applied", first)
		}
		runT(t, "migrate", "up", "--postgres", url, "--schema", schema, "--json").ok(t).decode(t, &second)
		if len(second.Applied) != 0 || second.Version != first.Version {
			t.Errorf("second migrate up: %+v, want nothing applied", second)
		}
		out := runT(t, "migrate", "up", "--postgres", url, "--schema", schema).ok(t).stdout
		if !strings.Contains(out, "up to date") {
			t.Errorf("migrate up on a current schema printed %q", out)
		}
	})
	t.Run("SQL", func(t *testing.T) {
		t.Parallel()
		out := runT(t, "migrate", "sql", "--schema", "jobs_here").ok(t).stdout
		for _, want := range []string{"BEGIN;", `CREATE TABLE "jobs_here".jobs`, "COMMIT;"} {
			if !strings.Contains(out, want) {
				t.Errorf("migrate sql output lacks %q", want)
			}
		}
	})
	t.Run("UsageErrors", func(t *testing.T) {
		t.Parallel()
		runT(t, "migrate", "up", "--postgres", "", "--schema", "troika").exit(t, 2, "--postgres is required")
		runT(t, "migrate", "up", "--postgres", "postgres://x", "--schema", "Bad-Name").exit(t, 2, "invalid schema")
		runT(t, "migrate", "sql", "--schema", "1x").exit(t, 2, "invalid schema")
		runT(t, "migrate", "down").exit(t, 2, "unknown command")
	})
}
