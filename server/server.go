package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/troikahq/troika"
	"github.com/troikahq/troika/gen/troika/v1/troikav1connect"
	"github.com/troikahq/troika/store"
)

// Options are what New needs: the configuration and an open backend. The
// Server does not own Store or Client; whoever opened them closes them
// after Stop (see Run).
type Options struct {
	Config Config
	// Store is the backend; Client is a troika.Client over the same store
	// (it runs the maintenance services).
	Store  store.Store
	Client *troika.Client
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Server serves the troika.v1 API and the health endpoints on one port. It
// is a run-group service: Start listens and serves in the background, Stop
// drains. Safe for concurrent use.
type Server struct {
	cfg    Config
	st     store.Store
	client *troika.Client
	log    *slog.Logger
	now    func() time.Time
	tokens *Tokens
	health *grpchealth.StaticChecker
	mux    *http.ServeMux

	http     *http.Server
	ln       net.Listener
	served   chan error // Serve's result
	draining chan struct{}
	drainMu  sync.Once
}

// services are the gRPC service names registered for grpc.health.v1.
var services = []string{
	troikav1connect.JobServiceName, troikav1connect.WorkerServiceName, troikav1connect.QueueServiceName,
	troikav1connect.ScheduleServiceName, troikav1connect.TopicServiceName,
}

// New builds a Server; it does not listen yet. It fails on an invalid
// Config or unreadable tokens.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Client == nil {
		return nil, errors.New("troika/server: Options.Store and Options.Client are required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	tokens, err := o.Config.LoadTokens()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: o.Config, st: o.Store, client: o.Client, log: o.Logger, now: o.Now, tokens: tokens,
		health: grpchealth.NewStaticChecker(services...), mux: http.NewServeMux(),
		draining: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	opts := []connect.HandlerOption{
		connect.WithInterceptors(&authInterceptor{tokens: tokens}),
		connect.WithCodec(strictJSON{}),
		connect.WithReadMaxBytes(s.cfg.MaxBodyBytes),
		connect.WithCompressMinBytes(16 << 10), // small messages are cheaper sent as they are
	}
	s.mux.Handle(troikav1connect.NewJobServiceHandler(&jobService{s}, opts...))
	s.mux.Handle(troikav1connect.NewWorkerServiceHandler(&workerService{s}, opts...))
	s.mux.Handle(troikav1connect.NewQueueServiceHandler(&queueService{s}, opts...))
	s.mux.Handle(troikav1connect.NewScheduleServiceHandler(&scheduleService{s}, opts...))
	s.mux.Handle(troikav1connect.NewTopicServiceHandler(&topicService{s}, opts...))
	s.mux.Handle(grpchealth.NewHandler(s.health))
	s.mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s, nil
}

// Handle registers an extra HTTP handler on the server's port, e.g.
// /metrics or the dashboard at /. Call it before Start. The handler gets
// the body limit but not the API's token check: it authenticates itself.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler returns the server's HTTP handler (with the body limit), for
// tests and for embedding in another server.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBodyBytes))
		s.mux.ServeHTTP(w, r)
	})
}

// readyz answers 200 when the store serves and the server is not draining.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.isDraining() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	_, err := s.st.JobGet(ctx, &store.JobGetParams{ID: store.ID{}})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) isDraining() bool {
	select {
	case <-s.draining:
		return true
	default:
		return false
	}
}

// Name names the service in logs.
func (s *Server) Name() string { return "api" }

// Start listens on Config.Addr and serves in the background. It returns
// once the port is bound (so Addr is valid), or the listen error.
func (s *Server) Start(_ context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("troika/server: listen: %w", err)
	}
	return s.Serve(ln)
}

// Serve serves on ln in the background (Start without the listen).
func (s *Server) Serve(ln net.Listener) error {
	s.ln = ln
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		Protocols:         new(http.Protocols),
	}
	s.http.Protocols.SetHTTP1(true)
	s.served = make(chan error, 1)
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("troika/server: TLS: %w", err)
		}
		s.http.Protocols.SetHTTP2(true)
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.http.TLSConfig)
	} else {
		s.http.Protocols.SetUnencryptedHTTP2(true) // h2c, for gRPC clients
	}
	go func() { s.served <- s.http.Serve(ln) }()
	s.log.Info("troika: server listening", "addr", ln.Addr().String(), "tls", s.cfg.TLSCert != "", "auth", !s.tokens.Empty())
	return nil
}

// Addr returns the bound address (after Start).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the base URL of the bound address (after Start).
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.Addr()
}

// Stop drains: /readyz and grpc.health turn unready, long-polling Claims
// and Watch streams end, the listener stops accepting, and in-flight calls
// finish (up to ShutdownTimeout, then connections are closed). Leases held
// by remote workers are left to them: they keep heartbeating a restarted
// or another node, and the rescuer returns the jobs of workers that do not.
// Safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.drainMu.Do(func() { close(s.draining) })
	for _, name := range services {
		s.health.SetStatus(name, grpchealth.StatusNotServing)
	}
	if s.http == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	s.served <- http.ErrServerClosed // later Stops do not block
	return err
}
