package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/server"
	"github.com/troikahq/troika/store/embedded"
)

// TestMain checks for leaked goroutines; idle keep-alive connections of
// http.DefaultTransport (the tests' plain HTTP client) are not leaks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The tokens of the tests, by scope.
const (
	adminToken    = "admin-token-0123456789"
	producerToken = "producer-token-0123456789"
	workerToken   = "worker-token-0123456789"
	emailsToken   = "emails-worker-token-0123456789" // worker, queue "emails" only
)

func hash(tok string) string { s := sha256.Sum256([]byte(tok)); return hex.EncodeToString(s[:]) }

// env is a running server over a fresh embedded store.
type env struct {
	srv    *server.Server
	url    string
	client *troika.Client // the server's own client (direct store access)
	dir    string
}

// setup starts a server on a loopback port; auth adds the four test tokens;
// edit may change the config.
func setup(t testing.TB, auth bool, edit ...func(*server.Config)) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	cfg := server.Defaults()
	cfg.Addr, cfg.Data = "127.0.0.1:0", e.dir
	if auth {
		file := filepath.Join(t.TempDir(), "tokens.yaml")
		yaml := "tokens:\n" +
			"  - {name: admin, scope: admin, sha256: " + hash(adminToken) + "}\n" +
			"  - {name: producer, scope: producer, sha256: " + hash(producerToken) + "}\n" +
			"  - {name: worker, scope: worker, sha256: " + hash(workerToken) + "}\n" +
			"  - {name: emails, scope: worker, queues: [emails], sha256: " + hash(emailsToken) + "}\n"
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.TokensFile = file
	}
	for _, f := range edit {
		f(&cfg)
	}
	st, err := embedded.Open(e.dir, embedded.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := troika.OpenStore(context.Background(), st, troika.Config{Logger: quiet(), SweepInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st, Client: c, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e.srv, e.url, e.client = srv, srv.URL(), c
	return e
}

// reply is a decoded JSON response.
type reply struct {
	status int
	body   map[string]any
	raw    string
}

// code returns the Connect error code of the reply ("" for success).
func (r reply) code() string {
	if r.status == http.StatusOK {
		return ""
	}
	c, _ := r.body["code"].(string)
	return c
}

// call POSTs a JSON body to /troika.v1.<procedure> with token ("" for none).
func (e *env) call(t testing.TB, procedure, token, body string) reply {
	t.Helper()
	return e.callPath(t, "/troika.v1."+procedure, token, body)
}

// callPath POSTs a JSON body to path.
func (e *env) callPath(t testing.TB, path, token, body string) reply {
	t.Helper()
	procedure := path
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", procedure, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

// ok calls and fails the test unless the call succeeds.
func (e *env) ok(t testing.TB, procedure, token, body string) map[string]any {
	t.Helper()
	r := e.call(t, procedure, token, body)
	if r.status != http.StatusOK {
		t.Fatalf("%s %s: %d %s", procedure, body, r.status, r.raw)
	}
	return r.body
}

// jobCount returns how many jobs the store holds.
func (e *env) jobCount(t testing.TB) int {
	t.Helper()
	page, err := e.client.ListJobs(context.Background(), troika.ListParams{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Jobs)
}

func compact(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, b)
	return buf.String()
}

// eventually polls cond every 10ms until it holds or timeout passes (the
// one polling helper of these tests; what stands for a wait on the server).
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: not %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
