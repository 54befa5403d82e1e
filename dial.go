package troika

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/troikahq/troika/internal/remote"
)

// DialOption configures Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	token  string
	client *http.Client
	json   bool
	logger *slog.Logger
	now    func() time.Time // tests only (export_test.go)
}

// WithToken sends token as the bearer token of every call (a producer,
// worker or admin token of the server).
func WithToken(token string) DialOption { return func(o *dialOptions) { o.token = token } }

// WithHTTPClient carries the calls over c (custom TLS roots, proxies,
// timeouts). Default: a client with pooled keep-alive connections.
func WithHTTPClient(c *http.Client) DialOption { return func(o *dialOptions) { o.client = c } }

// WithJSON makes the client speak JSON instead of binary protobuf (for
// debugging with a proxy; slower).
func WithJSON() DialOption { return func(o *dialOptions) { o.json = true } }

// WithLogger sets the Client's logger; default slog.Default().
func WithLogger(l *slog.Logger) DialOption { return func(o *dialOptions) { o.logger = l } }

// Dial returns a Client for the Troika server at url (http://host:port or
// https://host:port). It is the same *Client as Open returns: Enqueue,
// admin calls and NewWorker work unchanged, over the API (batched claims,
// heartbeats and acks; idle workers are woken by a server push). It runs
// no maintenance (the server does) and does not connect until the first
// call, which reports an unreachable server. Methods without a wire
// equivalent return an error matching errors.ErrUnsupported. Close releases
// the connections.
func Dial(ctx context.Context, url string, opts ...DialOption) (*Client, error) {
	var o dialOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	st, err := remote.New(remote.Options{URL: url, Token: o.token, HTTPClient: o.client, JSON: o.json, Logger: o.logger})
	if err != nil {
		return nil, err
	}
	c, err := openStore(ctx, st, Config{Logger: o.logger, DisableMaintenance: true, Now: o.now})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return c, nil
}
