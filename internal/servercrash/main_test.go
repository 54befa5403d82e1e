package servercrash

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/troikahq/troika/server"
)

// The child process is this test binary re-executed with these variables.
const (
	envMode = "TROIKA_SERVERCRASH_CHILD" // "server" or "zombie"
	envDir  = "TROIKA_SERVERCRASH_DIR"   // server: data directory
	envAddr = "TROIKA_SERVERCRASH_ADDR"  // server: listen address; zombie: server URL
)

func TestMain(m *testing.M) {
	switch os.Getenv(envMode) {
	case "server":
		os.Exit(childServer())
	case "zombie":
		os.Exit(childZombie())
	}
	os.Exit(m.Run())
}

// childServer is `troika server` on the given directory and address, as the
// command runs it (SIGTERM drains).
func childServer() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := server.Defaults()
	cfg.Addr, cfg.Data, cfg.SweepInterval = os.Getenv(envAddr), os.Getenv(envDir), 50*time.Millisecond
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	err := server.Run(ctx, cfg, log, func(*server.Server) { fmt.Println("ready") })
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		return 1
	}
	return 0
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// child starts the test binary in mode with env, and waits for its first
// stdout line to be want. It returns the process and the rest of stdout.
func child(t *testing.T, mode, want string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, envMode+"="+mode)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	line := make(chan string, 1)
	go func() {
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
	}()
	select {
	case got := <-line:
		if got != want {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child %s said %q, want %q", mode, got, want)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child %s did not start within 60s", mode)
	}
	return cmd, sc
}

// startServer starts a child server on addr over dir.
func startServer(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd, sc := child(t, "server", "ready", envDir+"="+dir, envAddr+"="+addr)
	go func() { _, _ = io.Copy(io.Discard, readerOf(sc)) }()
	return cmd
}

// readerOf drains what a scanner has not read (so the child never blocks
// on a full stdout pipe).
func readerOf(sc *bufio.Scanner) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for sc.Scan() {
		}
		_ = pw.Close()
	}()
	return pr
}

// eventually polls cond every few milliseconds until it holds or timeout
// passes; it is the only polling of these tests.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
