// Package pythonworker tests the Python example worker against a live
// in-process server: the example is part of the API's contract.
package pythonworker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/server"
	"github.com/troikahq/troika/store/embedded"
)

// python returns the python3 interpreter; without one the test skips, or
// fails when CI=true.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 not found (required when CI=true)")
	}
	t.Skip("python3 not found")
	return ""
}

func TestPythonWorker(t *testing.T) {
	t.Parallel()
	py := python(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := embedded.Open(t.TempDir(), embedded.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c, err := troika.OpenStore(t.Context(), st, troika.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := server.Defaults()
	cfg.Addr = "127.0.0.1:0"
	srv, err := server.New(server.Options{Config: cfg, Store: st, Client: c, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()

	var adds []troika.JobID
	for i := range 30 {
		res, err := c.Enqueue(t.Context(), troika.RawArgs{KindName: "py.add", JSON: json.RawMessage(`{"a":` + itoa(i) + `,"b":1000}`)}, troika.Queue("py"))
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, res.ID)
	}
	bad, err := c.Enqueue(t.Context(), troika.RawArgs{KindName: "py.fail", JSON: json.RawMessage(`{"reason":"no"}`)}, troika.Queue("py"), troika.MaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "worker.py", "--server", srv.URL(), "--queue", "py", "--batch", "7", "--wait-seconds", "1", "--exit-when-idle")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("worker.py: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "acked 31 jobs") {
		t.Fatalf("worker.py output:\n%s", out)
	}
	for i, id := range adds {
		j, err := c.GetJob(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Sum int }
		if j.State != troika.StateCompleted || json.Unmarshal(j.Result, &res) != nil || res.Sum != i+1000 {
			t.Fatalf("job %d: state %s result %s", i, j.State, j.Result)
		}
	}
	j, err := c.GetJob(t.Context(), bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != troika.StateDead || len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Message, "ValueError: no") {
		t.Fatalf("failing job: state %s errors %+v", j.State, j.Errors)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
