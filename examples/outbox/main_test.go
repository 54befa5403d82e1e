package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestOutbox(t *testing.T) {
	t.Parallel()
	url := os.Getenv("TROIKA_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	conn, err := pgx.Connect(ctx, url)
	cancel()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable (CI=true, so this fails): %v", url, err)
		}
		t.Skipf("PostgreSQL at %s is unreachable: %v", url, err)
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	schema := "outbox_t_" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		_ = conn.Close(context.Background())
	})
	var out bytes.Buffer
	if err := run(t.Context(), url, schema, false, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"order A-1001 committed", "order A-1002 rolled back (payment declined)",
		"receipt for order A-1001 sent to ada@example.com", "jobs in the store: 1 (completed)"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	var orders int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+schema+".orders").Scan(&orders); err != nil || orders != 1 {
		t.Errorf("orders: %d, %v; want only the committed one", orders, err)
	}
}
