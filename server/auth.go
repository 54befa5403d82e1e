package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/troikahq/troika/internal/engine"
)

// Scope is what a token may do.
type Scope string

// The scopes (DESIGN §2.8).
const (
	// ScopeProducer may enqueue and publish.
	ScopeProducer Scope = "producer"
	// ScopeWorker may claim, heartbeat and ack, optionally only on some queues.
	ScopeWorker Scope = "worker"
	// ScopeAdmin may do everything.
	ScopeAdmin Scope = "admin"
)

// errPermission marks per-item permission failures.
var errPermission = errors.New("permission denied")

// principal is an authenticated caller.
type principal struct {
	name   string
	scope  Scope
	queues []string // worker tokens: allowed queues; empty: all
}

// mayUseQueue reports whether p may claim from queue q.
func (p *principal) mayUseQueue(q string) bool {
	return p == nil || len(p.queues) == 0 || slices.Contains(p.queues, q)
}

type principalKey struct{}

// principalFrom returns the caller of ctx; nil when auth is off.
func principalFrom(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

// Tokens is the set of accepted tokens, kept as SHA-256 hashes.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	hash [sha256.Size]byte
	p    principal
}

// Empty reports whether no token is configured (auth off, loopback only).
func (t *Tokens) Empty() bool { return len(t.entries) == 0 }

// lookup returns the principal of a presented token, comparing its hash
// with every configured hash in constant time.
func (t *Tokens) lookup(token string) *principal {
	h := sha256.Sum256([]byte(token))
	var found *principal
	for i := range t.entries {
		if subtle.ConstantTimeCompare(h[:], t.entries[i].hash[:]) == 1 {
			found = &t.entries[i].p
		}
	}
	return found
}

// tokenEnv lists the variables that carry clear-text tokens per scope
// (comma-separated for several); they are hashed at load.
var tokenEnv = []struct {
	name  string
	scope Scope
}{
	{"TROIKA_ADMIN_TOKEN", ScopeAdmin}, {"TROIKA_PRODUCER_TOKEN", ScopeProducer}, {"TROIKA_WORKER_TOKEN", ScopeWorker},
}

// LoadTokens gathers the tokens of c: inline Tokens, the TokensFile, and
// the TROIKA_ADMIN_TOKEN, TROIKA_PRODUCER_TOKEN and TROIKA_WORKER_TOKEN
// variables. A malformed entry is an error naming it.
func (c *Config) LoadTokens() (*Tokens, error) {
	env := c.env
	if env == nil {
		env = os.LookupEnv
	}
	specs := slices.Clone(c.Tokens)
	if c.TokensFile != "" {
		b, err := os.ReadFile(c.TokensFile)
		if err != nil {
			return nil, fmt.Errorf("tokens file: %w", err)
		}
		var file struct {
			Tokens []TokenSpec `yaml:"tokens"`
		}
		if err := decodeStrict(b, &file); err != nil {
			return nil, fmt.Errorf("tokens file %s: %w", c.TokensFile, err)
		}
		specs = append(specs, file.Tokens...)
	}
	t := &Tokens{}
	for i, s := range specs {
		e, err := s.entry()
		if err != nil {
			return nil, fmt.Errorf("token %d (%q): %w", i, s.Name, err)
		}
		t.entries = append(t.entries, e)
	}
	for _, v := range tokenEnv {
		val, ok := env(v.name)
		if !ok {
			continue
		}
		for tok := range strings.SplitSeq(val, ",") {
			tok = strings.TrimSpace(tok)
			if len(tok) < 16 {
				return nil, fmt.Errorf("%s: a token must be at least 16 characters", v.name)
			}
			t.entries = append(t.entries, tokenEntry{hash: sha256.Sum256([]byte(tok)), p: principal{name: strings.ToLower(v.name), scope: v.scope}})
		}
	}
	return t, nil
}

func (s TokenSpec) entry() (tokenEntry, error) {
	var e tokenEntry
	switch Scope(s.Scope) {
	case ScopeProducer, ScopeWorker, ScopeAdmin:
	default:
		return e, fmt.Errorf("scope %q: want producer, worker or admin", s.Scope)
	}
	h, err := hex.DecodeString(strings.TrimSpace(s.SHA256))
	if err != nil || len(h) != sha256.Size {
		return e, errors.New("sha256: want 64 hex digits (printf %s \"$TOKEN\" | sha256sum)")
	}
	if len(s.Queues) > 0 && Scope(s.Scope) != ScopeWorker {
		return e, errors.New("queues: only worker tokens can be limited to queues")
	}
	for _, q := range s.Queues {
		if r := engine.CheckQueueName(q); r != "" {
			return e, fmt.Errorf("queues: %q: %s", q, r)
		}
	}
	copy(e.hash[:], h)
	e.p = principal{name: s.Name, scope: Scope(s.Scope), queues: slices.Clone(s.Queues)}
	return e, nil
}

// procedureScope returns the scope a procedure needs besides admin, which
// may call everything: producer for enqueues and publishes, worker for WorkerService,
// "" (admin only) for the rest.
func procedureScope(procedure string) Scope {
	switch {
	case procedure == "/troika.v1.JobService/Enqueue", procedure == "/troika.v1.JobService/EnqueueMany",
		procedure == "/troika.v1.TopicService/Publish", procedure == "/troika.v1.TopicService/PublishMany":
		return ScopeProducer
	case strings.HasPrefix(procedure, "/troika.v1.WorkerService/"):
		return ScopeWorker
	}
	return ""
}

// authInterceptor authenticates every RPC by its bearer token and checks
// the procedure's scope. With no tokens configured (loopback only) every
// call is allowed. Rejections happen before the handler runs: no side
// effect.
type authInterceptor struct{ tokens *Tokens }

func (a *authInterceptor) authorize(ctx context.Context, procedure string, h interface{ Get(string) string }) (context.Context, error) {
	if a.tokens.Empty() {
		return ctx, nil
	}
	raw := h.Get("Authorization")
	token, ok := strings.CutPrefix(raw, "Bearer ")
	if !ok || token == "" {
		return ctx, connect.NewError(connect.CodeUnauthenticated, errors.New("troika: missing bearer token (send Authorization: Bearer <token>)"))
	}
	p := a.tokens.lookup(token)
	if p == nil {
		return ctx, connect.NewError(connect.CodeUnauthenticated, errors.New("troika: invalid token"))
	}
	if need := procedureScope(procedure); p.scope != ScopeAdmin && p.scope != need {
		want := "admin"
		if need != "" {
			want = string(need) + " or admin"
		}
		return ctx, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("troika: token %q has scope %s; %s needs %s", p.name, p.scope, procedure, want))
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

func (a *authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := a.authorize(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (a *authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (a *authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := a.authorize(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}
