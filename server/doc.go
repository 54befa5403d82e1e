// Package server is Troika's network server: the troika.v1 API over
// Connect-RPC (gRPC, gRPC-Web and JSON over HTTP/1.1 from one handler) with
// JobService, WorkerService and QueueService, plus /livez, /readyz and
// grpc.health.v1, on one port, with scoped bearer tokens, optional TLS and
// limits on every input.
//
// Layout: config.go (the typed Config and its loading: flags > TROIKA_*
// environment > strict YAML > defaults), backend.go (opening the store the
// config names), server.go (the HTTP server, its lifecycle and drain),
// auth.go (tokens and scopes), jobs.go, worker.go and queues.go (one file per
// service), errors.go (store errors to Connect codes), codec.go (strict
// JSON). New services (ScheduleService, TopicService, /metrics, the
// dashboard) slot in by adding a handler to Server.mux and a scope entry to
// procedureScopes.
//
// It may import the root troika package, store, internal/engine,
// internal/wire and gen; nothing imports it but cmd/troika and tests.
package server
