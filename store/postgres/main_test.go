package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
)

// TestMain closes the shared pool after the tests and then checks that no
// goroutine (LISTEN loops, polls) outlived its store.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testURL is the database the tests use: TROIKA_TEST_POSTGRES_URL, or the
// local test database.
func testURL() string {
	if u := os.Getenv("TROIKA_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	poolOnce sync.Once
	poolErr  error
	shared   *pgxpool.Pool
)

// testPool returns the package's shared pool, skipping the test when
// PostgreSQL is unreachable (failing it when CI=true).
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	poolOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(testURL())
		if err != nil {
			poolErr = err
			return
		}
		cfg.MaxConns = 12
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = p.Ping(ctx)
		}
		if err != nil {
			poolErr = err
			if p != nil {
				p.Close()
			}
			return
		}
		shared = p
	})
	if poolErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable (CI=true, so this fails): %v", testURL(), poolErr)
		}
		t.Skipf("PostgreSQL at %s is unreachable: %v", testURL(), poolErr)
	}
	return shared
}

// freshSchema returns a new schema name, dropped (with everything in it) at
// cleanup.
func freshSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping test schema %s: %v", name, err)
		}
	})
	return name
}

// openTest opens a store in a fresh schema, closed at cleanup.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	pool := testPool(t)
	if opts.Schema == "" {
		opts.Schema = freshSchema(t, pool)
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := Open(t.Context(), pool, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
