package postgres

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/troikahq/troika/store"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	t.Run("ConcurrentNodesApplyOnce", func(t *testing.T) {
		t.Parallel()
		pool := testPool(t)
		schema := freshSchema(t, pool)
		const nodes = 6
		errs := make([]error, nodes)
		applied := make([][]int, nodes)
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() { applied[i], errs[i] = MigrateUp(t.Context(), pool, schema) })
		}
		wg.Wait()
		total := 0
		for i := range nodes {
			if errs[i] != nil {
				t.Errorf("node %d: %v", i, errs[i])
			}
			total += len(applied[i])
		}
		if total != SchemaVersion() {
			t.Errorf("the nodes applied %d migrations in all, want %d (each once)", total, SchemaVersion())
		}
		if err := CheckVersion(t.Context(), pool, schema); err != nil {
			t.Errorf("CheckVersion after the migrations: %v", err)
		}
	})
	t.Run("NewerDatabaseChangesNothing", func(t *testing.T) {
		t.Parallel()
		pool := testPool(t)
		schema := freshSchema(t, pool)
		if err := Migrate(t.Context(), pool, schema); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		q := pgx.Identifier{schema}.Sanitize()
		if _, err := pool.Exec(t.Context(), "INSERT INTO "+q+".schema_migrations (version, name) VALUES (99, '0099_future.sql')"); err != nil {
			t.Fatal(err)
		}
		before := schemaObjects(t, schema)
		_, err := MigrateUp(t.Context(), pool, schema)
		var ve *VersionError
		if !errors.Is(err, ErrSchemaTooNew) || !errors.As(err, &ve) || ve.Database != 99 || ve.Binary != SchemaVersion() {
			t.Fatalf("Migrate of a newer schema: %v, want a VersionError matching ErrSchemaTooNew", err)
		}
		if !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("error %q does not say nothing changed", err)
		}
		if after := schemaObjects(t, schema); after != before {
			t.Errorf("schema changed: before %s, after %s", before, after)
		}
		if _, err := Open(t.Context(), pool, Options{Schema: schema, Logger: quietLogger()}); !errors.Is(err, ErrSchemaTooNew) {
			t.Errorf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
		}
	})
	t.Run("SkipMigrateNeedsTheSchema", func(t *testing.T) {
		t.Parallel()
		pool := testPool(t)
		schema := freshSchema(t, pool)
		_, err := Open(t.Context(), pool, Options{Schema: schema, SkipMigrate: true, Logger: quietLogger()})
		if !errors.Is(err, ErrSchemaMissing) {
			t.Fatalf("Open with SkipMigrate of an empty schema: %v, want ErrSchemaMissing", err)
		}
		if n := schemaObjects(t, schema); n != "0" {
			t.Errorf("Open with SkipMigrate created objects: %s", n)
		}
		if err := Migrate(t.Context(), pool, schema); err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), pool, Options{Schema: schema, SkipMigrate: true, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("Open with SkipMigrate after Migrate: %v", err)
		}
		_ = s.Close()
	})
	t.Run("PrintedSQLAppliesTheSameSchema", func(t *testing.T) {
		t.Parallel()
		pool := testPool(t)
		schema := freshSchema(t, pool)
		sql, err := MigrationSQL(schema)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		if _, err := conn.Conn().PgConn().Exec(t.Context(), sql).ReadAll(); err != nil {
			t.Fatalf("applying the printed SQL: %v", err)
		}
		if err := CheckVersion(t.Context(), pool, schema); err != nil {
			t.Errorf("CheckVersion after the printed SQL: %v", err)
		}
		if applied, err := MigrateUp(t.Context(), pool, schema); err != nil || len(applied) != 0 {
			t.Errorf("MigrateUp after the printed SQL: %v, %v; want nothing to apply", applied, err)
		}
	})
	t.Run("BadSchemaNames", func(t *testing.T) {
		t.Parallel()
		pool := testPool(t)
		for _, name := range []string{"Troika", "1abc", "a-b", "a b", `x"; DROP TABLE y; --`, "pg_catalog", strings.Repeat("a", 49), "é"} {
			for what, err := range map[string]error{
				"ValidateSchema": ValidateSchema(name),
				"Migrate":        Migrate(t.Context(), pool, name),
				"Open":           func() error { _, err := Open(t.Context(), pool, Options{Schema: name}); return err }(),
				"MigrationSQL":   func() error { _, err := MigrationSQL(name); return err }(),
			} {
				var ia *store.InvalidArgumentError
				if !errors.As(err, &ia) || ia.Field != "schema" {
					t.Errorf("%s(%q): %v, want an InvalidArgumentError for schema", what, name, err)
				}
			}
		}
	})
}

// schemaObjects describes what schema holds (relations and version rows),
// to show that a refused migration changed nothing.
func schemaObjects(t *testing.T, schema string) string {
	t.Helper()
	pool := testPool(t)
	var rels int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`, schema).Scan(&rels); err != nil {
		t.Fatal(err)
	}
	if rels == 0 {
		return "0"
	}
	var versions string
	if err := pool.QueryRow(t.Context(), "SELECT string_agg(version::text, ',' ORDER BY version) FROM "+pgx.Identifier{schema}.Sanitize()+".schema_migrations").Scan(&versions); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d relations, versions %s", rels, versions)
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// Every accepted schema name is a plain lowercase identifier (so quoting
// it is exact and it cannot inject SQL); ValidateSchema never panics.
func FuzzValidateSchema(f *testing.F) {
	for _, s := range []string{"troika", "", "a", "_x9", "Bad", "pg_x", `a"b`, "x;y", strings.Repeat("z", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateSchema(name)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("ValidateSchema(%q): %v is not an InvalidArgumentError", name, err)
			}
			return
		}
		if name != "" && (!identifier.MatchString(name) || strings.HasPrefix(name, "pg_")) {
			t.Fatalf("ValidateSchema accepted %q", name)
		}
	})
}
