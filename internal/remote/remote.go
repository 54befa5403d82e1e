package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	"github.com/troikahq/troika/gen/troika/v1/troikav1connect"
	"github.com/troikahq/troika/store"
)

// Options configure New.
type Options struct {
	// URL is the server's base URL, http:// or https://.
	URL string
	// Token is sent as a bearer token; "" for none.
	Token string
	// HTTPClient carries the calls; default a client with keep-alive
	// connections and TLS from the environment.
	HTTPClient *http.Client
	// JSON selects the JSON codec instead of binary protobuf.
	JSON bool
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Store is a store.Store over a Troika server. Safe for concurrent use.
type Store struct {
	jobs    troikav1connect.JobServiceClient
	workers troikav1connect.WorkerServiceClient
	queues  troikav1connect.QueueServiceClient
	// schedulesC and topicsC are the ScheduleService and TopicService
	// clients (schedules.go, topics.go).
	schedulesC troikav1connect.ScheduleServiceClient
	topicsC    troikav1connect.TopicServiceClient
	log        *slog.Logger

	ctx    context.Context // cancelled by Close; ends Watch streams
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup
	http   *http.Client
	json   bool // JSON codec: args as Values; otherwise raw bytes
	ahead  ahead
}

var _ store.Store = (*Store)(nil)

// New returns a Store for the server at o.URL. It does not connect; the
// first call does.
func New(o Options) (*Store, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &store.InvalidArgumentError{Field: "url", Reason: fmt.Sprintf("%q: want http://host:port or https://host:port", o.URL)}
	}
	base := strings.TrimRight(u.String(), "/")
	hc := o.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		// Without this the transport asks for gzip on every request
		// (Accept-Encoding) and the server compresses large claim
		// responses: on a LAN that costs far more CPU than it saves.
		t.DisableCompression = true
		hc = &http.Client{Transport: t}
	}
	if o.Token != "" {
		inner := hc.Transport
		if inner == nil {
			inner = http.DefaultTransport
		}
		c := *hc
		c.Transport = &bearer{token: "Bearer " + o.Token, next: inner}
		hc = &c
	}
	// No compression: payloads are small and the CPU is better spent
	// elsewhere (compressing showed in profiles on loopback).
	opts := []connect.ClientOption{connect.WithAcceptCompression("gzip", nil, nil)}
	if o.JSON {
		opts = append(opts, connect.WithProtoJSON())
	}
	s := &Store{
		jobs:       troikav1connect.NewJobServiceClient(hc, base, opts...),
		workers:    troikav1connect.NewWorkerServiceClient(hc, base, opts...),
		queues:     troikav1connect.NewQueueServiceClient(hc, base, opts...),
		schedulesC: troikav1connect.NewScheduleServiceClient(hc, base, opts...),
		topicsC:    troikav1connect.NewTopicServiceClient(hc, base, opts...),
		log:        o.Logger,
		http:       hc,
		json:       o.JSON,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// bearer adds the Authorization header to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", b.token)
	return b.next.RoundTrip(r)
}

// check returns ErrClosed after Close.
func (s *Store) check() error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// Close ends the Watch streams and later calls return ErrClosed. It does
// not affect the server. Safe to call more than once.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopAhead()
	s.cancel()
	s.wg.Wait()
	s.http.CloseIdleConnections()
	return nil
}

// retryTransient calls fn until it succeeds, fails for good, ctx ends or
// about 30s pass, backing off while the server is unreachable (a restart).
// Only for calls that are safe to repeat (acks: a repeated ack is refused
// with a lease error, harmlessly).
func (s *Store) retryTransient(ctx context.Context, fn func() error) error {
	delay, deadline := 20*time.Millisecond, time.Now().Add(30*time.Second)
	for {
		err := fn()
		if err == nil || !Transient(err) || time.Now().After(deadline) || s.closed.Load() {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-s.ctx.Done():
			t.Stop()
			return store.ErrClosed
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// JobSubscribe opens a WorkerService.Watch stream for the queues and
// forwards its messages, coalesced, to the returned channel. If the stream
// breaks it is reopened with back-off, and the channel is signalled each
// time it (re)opens so a worker claims what became ready meanwhile.
func (s *Store) JobSubscribe(p *store.JobSubscribeParams) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(s.ctx)
	var queues []string
	if p != nil {
		queues = append(queues, p.Queues...)
	}
	signal := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.ahead.mu.Lock()
	if s.ahead.subs == nil {
		s.ahead.subs = map[chan struct{}]struct{}{}
	}
	s.ahead.subs[ch] = struct{}{}
	s.ahead.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		delay := 50 * time.Millisecond
		for ctx.Err() == nil {
			stream, err := s.workers.Watch(ctx, connect.NewRequest(&watchRequest{Queues: queues}))
			if err == nil {
				for stream.Receive() {
					delay = 50 * time.Millisecond
					signal()
				}
				err = stream.Err()
				_ = stream.Close()
			}
			if ctx.Err() != nil {
				return
			}
			s.log.Debug("troika: watch stream ended; reconnecting", "error", err, "retry_in", delay)
			signal()
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			delay = min(2*delay, 2*time.Second)
		}
	}()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			cancel()
			s.ahead.mu.Lock()
			delete(s.ahead.subs, ch)
			last := len(s.ahead.subs) == 0
			s.ahead.mu.Unlock()
			if last {
				s.stopAhead()
			}
		})
	}
}

// errClosedOr returns ErrClosed once the store is closed, else err mapped.
func (s *Store) errClosedOr(err error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
		return store.ErrClosed
	}
	return fromConnect(err)
}
