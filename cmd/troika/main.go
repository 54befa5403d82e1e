package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runContext(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the troika command line args with the given standard streams and
// returns the exit code: 0 ok, 1 error, 2 usage, 3 not found.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

// runContext is run with a context (cancelled by SIGINT in main).
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := newApp(stdin, stdout, stderr)
	root := a.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return cli.ExitOK
	}
	code := cli.ExitCode(err)
	var ee *cli.ExitError
	if !a.started && !errors.As(err, &ee) {
		// Cobra rejected the command line before any command ran: an
		// unknown command or flag, a bad flag value, a wrong number of
		// arguments, conflicting flags.
		code = cli.ExitUsage
	}
	fmt.Fprintf(stderr, "troika: %s\n", cli.Message(err))
	if code == cli.ExitUsage && cmd != nil {
		fmt.Fprintf(stderr, "\n%s", cmd.UsageString())
	}
	return code
}

// app is one invocation of the command: its streams and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	dataDir string
	json    bool
	server  string
	token   string
	// dataSet: --data or TROIKA_DATA was given (open the directory);
	// serverSet: --server was given. Without either, commands dial the
	// default server.
	dataSet, serverSet bool

	// started is set when a command's RunE begins: errors before that are
	// cobra's usage errors.
	started bool

	// stdinTerminal and stderrTerminal report whether the streams are
	// terminals; tests replace them.
	stdinTerminal  func() bool
	stderrTerminal func() bool
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{
		stdin: stdin, stdout: stdout, stderr: stderr,
		stdinTerminal:  func() bool { return cli.IsTerminal(stdin) },
		stderrTerminal: func() bool { return cli.IsTerminal(stderr) },
	}
}

// defaultDataDir is the --data default: $TROIKA_DATA, else ./troika-data.
func defaultDataDir() string {
	if d := os.Getenv("TROIKA_DATA"); d != "" {
		return d
	}
	return "troika-data"
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "troika",
		Short: "Troika: durable job queues, a message queue and a scheduler in one binary",
		Long: `Troika: durable job queues, a message queue and a scheduler in one binary.

Commands talk to a troika server (--server, default http://127.0.0.1:7600 or
$TROIKA_SERVER; --token or $TROIKA_TOKEN). Start one with: troika server
Alternatively --data DIR (or $TROIKA_DATA) opens a data directory directly;
one process owns a directory at a time.

Try it:  troika demo
Exit codes: 0 ok, 1 error, 2 usage, 3 not found.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.dataSet = cmd.Flags().Changed("data") || os.Getenv("TROIKA_DATA") != ""
			a.serverSet = cmd.Flags().Changed("server")
			if a.dataSet && a.serverSet {
				return cli.Usagef("--data and --server are exclusive: open a directory or talk to a server")
			}
			return nil
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.Usage(err) })

	pf := root.PersistentFlags()
	pf.StringVar(&a.dataDir, "data", defaultDataDir(), "data directory of the embedded store (env TROIKA_DATA)")
	pf.BoolVar(&a.json, "json", false, "print machine-readable JSON")
	pf.StringVar(&a.server, "server", envOr("TROIKA_SERVER", "http://127.0.0.1:7600"), "URL of the troika server (env TROIKA_SERVER)")
	pf.StringVar(&a.token, "token", os.Getenv("TROIKA_TOKEN"), "API token for --server (env TROIKA_TOKEN)")

	root.AddCommand(
		a.versionCmd(),
		a.demoCmd(),
		a.enqueueCmd(),
		a.jobCmd(),
		a.queueCmd(),
		a.dlqCmd(),
		a.scheduleCmd(),
		a.benchCmd(),
		a.migrateCmd(),
		a.serverCmd(), a.healthcheckCmd(), // server.go, healthcheck.go: the API server
		a.publishCmd(), a.topicCmd(), // publish.go, topic.go: the message queue
	)
	return root
}

// runE wraps a command's body: it records that the command started (so its
// errors are not taken for usage errors) and leaves classification of the
// error to cli.ExitCode.
func (a *app) runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		return f(cmd, args)
	}
}

// group returns a command that only holds subcommands: with no arguments it
// prints its help, with an unknown subcommand it is a usage error.
func (a *app) group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cli.Usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	c.AddCommand(subs...)
	return c
}

// args returns a positional-argument validator whose errors are usage
// errors.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error { return cli.Usage(v(cmd, args)) }
}

// logger is the SDK's logger for the command: warnings and errors only, to
// stderr.
func (a *app) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// serverURL is the server commands talk to.
func (a *app) serverURL() string { return a.server }

// open returns the command's Client: dialled to --server unless --data (or
// TROIKA_DATA) names a directory to open directly. With mustExist, a
// missing directory is an error rather than created (reading commands must
// not create one).
func (a *app) open(ctx context.Context, mustExist bool) (*troika.Client, error) {
	if !a.dataSet {
		if a.server == "" {
			return nil, cli.Usagef("--server must not be empty")
		}
		return troika.Dial(ctx, a.server, troika.WithToken(a.token), troika.WithLogger(a.logger()))
	}
	if a.dataDir == "" {
		return nil, cli.Usagef("--data must not be empty")
	}
	if mustExist {
		fi, err := os.Stat(a.dataDir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, cli.Failf("no data directory at %s (set --data or TROIKA_DATA; `troika enqueue` creates one)", a.dataDir)
		case err != nil:
			return nil, err
		case !fi.IsDir():
			return nil, cli.Failf("%s is not a directory", a.dataDir)
		}
	}
	c, err := troika.Open(ctx, troika.Config{
		Dir:    a.dataDir,
		Logger: a.logger(),
		// A one-shot command looks at or changes the data; lease rescue,
		// promotion and retention belong to the process that works jobs.
		DisableMaintenance: true,
	})
	if errors.Is(err, troika.ErrLocked) {
		return nil, err // names the directory and the process that owns it
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", a.dataDir, err)
	}
	return c, nil
}

// withClient opens the data directory, runs f and closes the client,
// reporting a close error only when f succeeded.
func (a *app) withClient(ctx context.Context, mustExist bool, f func(*troika.Client) error) error {
	c, err := a.open(ctx, mustExist)
	if err != nil {
		return err
	}
	err = f(c)
	if cerr := c.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return err
}
