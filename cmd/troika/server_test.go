package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startServerCmd runs `troika server` in this process on a free loopback
// port with extra args, and returns its URL and a stop function (SIGTERM's
// equivalent: the context ends) that checks the exit code is 0.
func startServerCmd(t *testing.T, extra ...string) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb strings.Builder
	code := make(chan int, 1)
	args := append([]string{"server", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data")}, extra...)
	go func() {
		c := runContext(ctx, args, strings.NewReader(""), pw, &errb)
		_ = pw.Close()
		code <- c
	}()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			cancel()
			t.Fatalf("server exited %d: %s", <-code, errb.String())
		}
		_, rest, _ := strings.Cut(l, "listening on ")
		url, _, _ = strings.Cut(rest, " ")
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("server exit %d after drain: %s", c, errb.String())
		}
	}
	t.Cleanup(stop)
	return url, stop
}

// The CLI over the API: tables, --json, exit codes, healthcheck and drain.
func TestCLIOverServer(t *testing.T) {
	t.Parallel()
	url, stop := startServerCmd(t)
	srv := []string{"--server", url}
	with := func(args ...string) []string { return append(args, srv...) }

	runT(t, with("healthcheck")...).ok(t)
	var res struct{ ID, State string }
	runT(t, with("enqueue", "email.send", `{"to":"ada@example.com"}`, "--queue", "emails", "--json")...).ok(t).decode(t, &res)
	if res.ID == "" || res.State != "available" {
		t.Fatalf("enqueue = %+v", res)
	}
	var j struct {
		ID, Kind, State, Queue string
	}
	runT(t, with("job", "get", res.ID, "--json")...).ok(t).decode(t, &j)
	if j.ID != res.ID || j.Kind != "email.send" || j.Queue != "emails" || j.State != "available" {
		t.Fatalf("job get = %+v", j)
	}
	if r := runT(t, with("job", "list")...).ok(t); !strings.Contains(r.stdout, res.ID) || !strings.Contains(r.stdout, "email.send") {
		t.Fatalf("job list table:\n%s", r.stdout)
	}
	if r := runT(t, with("queue", "list")...).ok(t); !strings.Contains(r.stdout, "emails") {
		t.Fatalf("queue list table:\n%s", r.stdout)
	}
	runT(t, with("queue", "pause", "emails")...).ok(t)
	runT(t, with("job", "cancel", res.ID)...).ok(t)
	runT(t, with("job", "get", "0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00")...).exit(t, 3, "not found")
	runT(t, with("job", "retry", res.ID)...).exit(t, 1, "cancelled")
	runT(t, with("dlq", "list", "--json")...).ok(t)
	runT(t, with("enqueue", "k", "--priority", "9")...).exit(t, 1, "priority")

	stop()
	runT(t, with("healthcheck")...).exit(t, 1, "readyz")
	runT(t, with("job", "list")...).exit(t, 1, "unavailable")
}

// With tokens, the CLI needs --token, and the token's scope decides.
func TestCLITokens(t *testing.T) {
	t.Parallel()
	const admin, producer = "cli-admin-token-0123456789", "cli-producer-token-0123456789"
	h := func(s string) string { b := sha256.Sum256([]byte(s)); return hex.EncodeToString(b[:]) }
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(file, []byte("tokens:\n  - {name: a, scope: admin, sha256: "+h(admin)+"}\n  - {name: p, scope: producer, sha256: "+h(producer)+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := startServerCmd(t, "--tokens-file", file)
	runT(t, "enqueue", "k", "--server", url).exit(t, 1, "missing bearer token")
	runT(t, "enqueue", "k", "--server", url, "--token", "wrong-token-0123456789").exit(t, 1, "invalid token")
	runT(t, "enqueue", "k", "--server", url, "--token", producer).ok(t)
	runT(t, "job", "list", "--server", url, "--token", producer).exit(t, 1, "permission_denied")
	runT(t, "job", "list", "--server", url, "--token", admin).ok(t)
}

// Bad server configuration is a usage error that names the setting.
func TestServerCommandConfig(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "troika.yaml")
	if err := os.WriteFile(bad, []byte("adress: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runT(t, "server", "--config", bad, "--data", t.TempDir()).exit(t, 2, "adress")
	runT(t, "server", "--addr", "0.0.0.0:7600", "--data", t.TempDir()).exit(t, 2, "loopback")
	runT(t, "server", "--read-timeout", "soon", "--data", t.TempDir()).exit(t, 2, "read-timeout")
}
