package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troikahq/troika/server"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Precedence: flags > environment > YAML file > defaults.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "addr: 127.0.0.1:7001\ndata: /from/file\nreadTimeout: 7s\nmaxClaim: 50\n")
	cfg, err := server.LoadConfig(server.LoadOptions{File: file,
		Env:   envOf(map[string]string{"TROIKA_ADDR": "127.0.0.1:7002", "TROIKA_MAX_CLAIM": "60"}),
		Flags: map[string]string{"addr": "127.0.0.1:7003"}})
	if err != nil {
		t.Fatal(err)
	}
	def := server.Defaults()
	if cfg.Addr != "127.0.0.1:7003" || cfg.MaxClaim != 60 || cfg.Data != "/from/file" || cfg.ReadTimeout != 7*time.Second || cfg.IdleTimeout != def.IdleTimeout {
		t.Fatalf("config = %+v", cfg)
	}
}

// Bad configuration is refused with an error naming the setting.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    server.LoadOptions
		want string
	}{
		{"unknown YAML key", server.LoadOptions{File: writeFile(t, "adress: 127.0.0.1:1\n")}, "adress"},
		{"YAML wrong type", server.LoadOptions{File: writeFile(t, "maxClaim: lots\n")}, "lots"},
		{"two documents", server.LoadOptions{File: writeFile(t, "addr: 127.0.0.1:1\n---\naddr: 127.0.0.1:2\n")}, "more than one"},
		{"bad env duration", server.LoadOptions{Env: envOf(map[string]string{"TROIKA_READ_TIMEOUT": "soon"})}, "TROIKA_READ_TIMEOUT"},
		{"bad flag number", server.LoadOptions{Flags: map[string]string{"max-claim": "x"}}, "--max-claim"},
		{"unknown flag", server.LoadOptions{Flags: map[string]string{"colour": "red"}}, "--colour"},
		{"zero limit", server.LoadOptions{Flags: map[string]string{"max-body-bytes": "0"}}, "max-body-bytes"},
		{"tls half", server.LoadOptions{Flags: map[string]string{"tls-cert": "c.pem"}}, "tls-key"},
		{"public without tokens", server.LoadOptions{Flags: map[string]string{"addr": "0.0.0.0:7600"}}, "loopback"},
		{"public host without tokens", server.LoadOptions{Flags: map[string]string{"addr": ":7600"}}, "loopback"},
		{"short env token", server.LoadOptions{Env: envOf(map[string]string{"TROIKA_ADMIN_TOKEN": "short"})}, "16 characters"},
		{"bad token scope", server.LoadOptions{File: writeFile(t, "tokens: [{name: x, scope: root, sha256: "+strings.Repeat("a", 64)+"}]\n")}, "scope"},
		{"bad token hash", server.LoadOptions{File: writeFile(t, "tokens: [{name: x, scope: admin, sha256: abc}]\n")}, "sha256"},
		{"queues on admin", server.LoadOptions{File: writeFile(t, "tokens: [{name: x, scope: admin, queues: [a], sha256: "+strings.Repeat("a", 64)+"}]\n")}, "queues"},
		{"unknown token key", server.LoadOptions{Flags: map[string]string{"tokens-file": writeFile(t, "tokens: [{name: x, scope: admin, hash: y}]\n")}}, "hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.o.Env == nil {
				tc.o.Env = envOf(nil)
			}
			_, err := server.LoadConfig(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	t.Run("public with tokens", func(t *testing.T) {
		t.Parallel()
		_, err := server.LoadConfig(server.LoadOptions{Flags: map[string]string{"addr": "0.0.0.0:7600"},
			Env: envOf(map[string]string{"TROIKA_ADMIN_TOKEN": adminToken})})
		if err != nil {
			t.Fatal(err)
		}
	})
}
