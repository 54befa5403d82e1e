package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/troikahq/troika/internal/cli"
	"github.com/troikahq/troika/store/postgres"
)

// migrateFlags are the flags of troika migrate up|sql.
type migrateFlags struct {
	url    string
	schema string
}

func (a *app) migrateCmd() *cobra.Command {
	var f migrateFlags
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply the missing PostgreSQL migrations (safe to run from many nodes at once)",
		Long: `Apply the embedded schema migrations that the database lacks, in one
transaction under an advisory lock: nodes running it at once apply each
migration once. A database migrated by a newer troika is left unchanged
and the command fails.`,
		Args: args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error { return a.migrateUp(cmd.Context(), f) }),
	}
	up.Flags().StringVar(&f.url, "postgres", os.Getenv("TROIKA_POSTGRES_URL"), "PostgreSQL connection URL (env TROIKA_POSTGRES_URL)")
	up.Flags().StringVar(&f.schema, "schema", postgres.DefaultSchema, "PostgreSQL schema for troika's tables")
	sql := &cobra.Command{
		Use:   "sql",
		Short: "Print the SQL of every migration (for review or to apply with psql -1 -f)",
		Args:  args(cobra.NoArgs),
		RunE: a.runE(func(*cobra.Command, []string) error {
			text, err := postgres.MigrationSQL(f.schema)
			if err != nil {
				return cli.Usage(err)
			}
			if a.json {
				return a.printJSON(map[string]any{"schema": f.schema, "version": postgres.SchemaVersion(), "sql": text})
			}
			_, err = fmt.Fprint(a.stdout, text)
			return err
		}),
	}
	sql.Flags().StringVar(&f.schema, "schema", postgres.DefaultSchema, "PostgreSQL schema for troika's tables")
	return a.group("migrate", "Manage the PostgreSQL schema (up, sql)", up, sql)
}

// migrateResult is the JSON output of troika migrate up.
type migrateResult struct {
	Schema  string `json:"schema"`
	Applied []int  `json:"applied"`
	Version int    `json:"version"`
}

func (a *app) migrateUp(ctx context.Context, f migrateFlags) error {
	if err := postgres.ValidateSchema(f.schema); err != nil {
		return cli.Usage(err)
	}
	if f.url == "" {
		return cli.Usagef("--postgres is required (or set TROIKA_POSTGRES_URL)")
	}
	cfg, err := pgxpool.ParseConfig(f.url)
	if err != nil {
		return cli.Usagef("--postgres: %v", err)
	}
	cfg.MaxConns = 2
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	applied, err := postgres.MigrateUp(ctx, pool, f.schema)
	switch {
	case errors.Is(err, postgres.ErrSchemaTooNew):
		return err // says which versions and that nothing changed
	case err != nil:
		return fmt.Errorf("migrate schema %s: %w", f.schema, err)
	}
	res := migrateResult{Schema: f.schema, Applied: applied, Version: postgres.SchemaVersion()}
	if res.Applied == nil {
		res.Applied = []int{}
	}
	if a.json {
		return a.printJSON(res)
	}
	if len(applied) == 0 {
		_, err = fmt.Fprintf(a.stdout, "schema %s is up to date (version %d)\n", f.schema, res.Version)
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "schema %s: applied migrations %v; now at version %d\n", f.schema, applied, res.Version)
	return err
}
