package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBinary builds the real troika binary and runs it as a user would:
// exit codes, stdout and stderr of separate processes sharing a data
// directory.
func TestBinary(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("no go tool to build with")
		}
	}
	bin := filepath.Join(t.TempDir(), "troika")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(t.TempDir(), "data")
	runBin := func(t *testing.T, wantCode int, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("run %v: %v", args, err)
		}
		if code != wantCode {
			t.Fatalf("troika %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}

	t.Run("version", func(t *testing.T) {
		out, _ := runBin(t, 0, "version")
		if !strings.HasPrefix(out, "troika ") || !strings.Contains(out, runtime.Version()) {
			t.Fatalf("version: %q", out)
		}
		out, _ = runBin(t, 0, "version", "--json")
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil || v["goVersion"] != runtime.Version() {
			t.Fatalf("version --json: %s (%v)", out, err)
		}
	})
	t.Run("round trip", func(t *testing.T) {
		out, _ := runBin(t, 0, "enqueue", "email.send", `{"to":"ada@example.com"}`, "--data", data, "--json")
		var res struct{ ID, State string }
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.ID == "" {
			t.Fatalf("enqueue: %s (%v)", out, err)
		}
		out, _ = runBin(t, 0, "job", "get", res.ID, "--data", data, "--json")
		var j struct {
			ID, Kind, State string
			Args            json.RawMessage
		}
		if err := json.Unmarshal([]byte(out), &j); err != nil || j.ID != res.ID || j.Kind != "email.send" || compact(t, j.Args) != `{"to":"ada@example.com"}` {
			t.Fatalf("job get: %s (%v)", out, err)
		}
	})
	t.Run("exit codes", func(t *testing.T) {
		_, errOut := runBin(t, 3, "job", "get", "0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00", "--data", data)
		if !strings.HasPrefix(errOut, "troika: ") || strings.Count(errOut, "\n") != 1 {
			t.Fatalf("not-found stderr: %q", errOut)
		}
		runBin(t, 2, "enqueue", "k", "--priority", "urgent", "--data", data)
		runBin(t, 2, "no-such-command")
		runBin(t, 1, "enqueue", "k", "--priority", "9", "--data", data)
		runBin(t, 1, "job", "list", "--server", "http://127.0.0.1:7600")
	})
}
