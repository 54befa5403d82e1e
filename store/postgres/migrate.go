package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one embedded, versioned schema change.
type Migration struct {
	Version int    // 1, 2, …: the order they apply in
	Name    string // file name, e.g. "0001_init.sql"
	sql     string // with {schema} placeholders
}

// SQL returns the migration's statements for schema (not validated here).
func (m Migration) SQL(schema string) string {
	return strings.ReplaceAll(m.sql, "{schema}", pgx.Identifier{schema}.Sanitize())
}

var migrations = loadMigrations()

// loadMigrations reads the embedded files; their names start with the
// version number. A malformed set is a build defect and panics at init.
func loadMigrations() []Migration {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	var out []Migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			panic("postgres: migration file without a version: " + e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			panic(err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			panic(fmt.Sprintf("postgres: migrations are not numbered 1..n: %s", m.Name))
		}
	}
	return out
}

// Migrations returns the embedded migrations in order. Callers must not
// modify the slice.
func Migrations() []Migration { return migrations }

// SchemaVersion is the schema version this binary writes and reads.
func SchemaVersion() int { return len(migrations) }

// Errors of the schema version check.
var (
	// ErrSchemaTooNew: the database was migrated by a newer Troika than
	// this binary; nothing was changed. Upgrade the binary.
	ErrSchemaTooNew = errors.New("troika: postgres schema is newer than this binary")
	// ErrSchemaMissing: the schema has not been migrated (or is behind
	// this binary) and the store was opened with SkipMigrate. Run
	// `troika migrate up`.
	ErrSchemaMissing = errors.New("troika: postgres schema is not migrated to this binary's version")
)

// VersionError reports the database's schema version against this
// binary's. It matches ErrSchemaTooNew or ErrSchemaMissing.
type VersionError struct {
	Schema   string
	Database int // version found in the database (0: none)
	Binary   int // SchemaVersion()
}

func (e *VersionError) Error() string {
	if e.Database > e.Binary {
		return fmt.Sprintf("troika: postgres schema %q is at version %d, newer than this binary's %d: upgrade troika (nothing was changed)", e.Schema, e.Database, e.Binary)
	}
	return fmt.Sprintf("troika: postgres schema %q is at version %d, this binary needs %d: run `troika migrate up`", e.Schema, e.Database, e.Binary)
}

// Is matches ErrSchemaTooNew or ErrSchemaMissing.
func (e *VersionError) Is(target error) bool {
	if e.Database > e.Binary {
		return target == ErrSchemaTooNew
	}
	return target == ErrSchemaMissing
}

// versionTable is created before any migration and records each applied
// version.
const versionTable = `CREATE TABLE IF NOT EXISTS %s.schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// lockKey is the advisory lock that serializes migrations of one schema.
func lockKey(schema string) string { return "troika.migrate." + schema }

// Migrate applies the missing migrations to schema in one transaction
// under a transaction-level advisory lock: N processes migrating at once
// apply each migration exactly once, and a failure leaves the database as
// it was. It returns the versions it applied. A database at a newer version
// than this binary gives a *VersionError matching ErrSchemaTooNew and
// changes nothing.
func Migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	_, err := MigrateUp(ctx, pool, schema)
	return err
}

// MigrateUp is Migrate returning the versions it applied (none when the
// schema was current).
func MigrateUp(ctx context.Context, pool *pgxpool.Pool, schema string) ([]int, error) {
	schema, err := checkSchema(schema)
	if err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, invalid("pool", "nil")
	}
	var applied []int
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		applied = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, lockKey(schema)); err != nil {
			return err
		}
		quoted := pgx.Identifier{schema}.Sanitize()
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoted); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(versionTable, quoted)); err != nil {
			return err
		}
		cur, err := currentVersion(ctx, tx, schema)
		if err != nil {
			return err
		}
		if cur > SchemaVersion() {
			return &VersionError{Schema: schema, Database: cur, Binary: SchemaVersion()}
		}
		for _, m := range migrations[cur:] {
			if _, err := tx.Exec(ctx, m.SQL(schema)); err != nil {
				return fmt.Errorf("troika: migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.schema_migrations (version, name) VALUES ($1, $2)`, quoted), m.Version, m.Name); err != nil {
				return err
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// currentVersion reads the highest applied version (0 when the version
// table or the schema does not exist).
func currentVersion(ctx context.Context, q querier, schema string) (int, error) {
	var v int
	err := q.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(max(version), 0) FROM %s.schema_migrations`, pgx.Identifier{schema}.Sanitize())).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == codeUndefinedTable || pe.Code == codeInvalidSchemaName) {
		return 0, nil
	}
	return v, err
}

// Version returns the schema version of the database (0 when it was never
// migrated).
func Version(ctx context.Context, pool *pgxpool.Pool, schema string) (int, error) {
	schema, err := checkSchema(schema)
	if err != nil {
		return 0, err
	}
	return currentVersion(ctx, pool, schema)
}

// CheckVersion returns nil when schema is at this binary's version and a
// *VersionError otherwise; it changes nothing.
func CheckVersion(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	v, err := Version(ctx, pool, schema)
	if err != nil {
		return err
	}
	if v != SchemaVersion() {
		return &VersionError{Schema: schema, Database: v, Binary: SchemaVersion()}
	}
	return nil
}

// MigrationSQL returns the whole migration as one SQL script for schema:
// what Migrate runs, for a DBA to review or apply by hand (psql -1 -f).
// It is idempotent only through its version checks, so apply it to a
// schema that has none of the migrations, or use Migrate.
func MigrationSQL(schema string) (string, error) {
	schema, err := checkSchema(schema)
	if err != nil {
		return "", err
	}
	quoted := pgx.Identifier{schema}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, "-- Troika schema version %d for schema %s.\n-- Generated by `troika migrate sql`; `troika migrate up` applies the same statements.\nBEGIN;\n", SchemaVersion(), quoted)
	fmt.Fprintf(&b, "SELECT pg_advisory_xact_lock(hashtextextended('%s', 0));\n", lockKey(schema))
	fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s;\n%s;\n", quoted, fmt.Sprintf(versionTable, quoted))
	for _, m := range migrations {
		fmt.Fprintf(&b, "\n-- migration %d: %s\n%s\n", m.Version, m.Name, strings.TrimSpace(m.SQL(schema)))
		fmt.Fprintf(&b, "INSERT INTO %s.schema_migrations (version, name) VALUES (%d, '%s');\n", quoted, m.Version, m.Name)
	}
	b.WriteString("COMMIT;\n")
	return b.String(), nil
}
