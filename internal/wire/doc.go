// Package wire converts between the store's records (package store) and the
// protobuf messages of the troika.v1 API (package gen/troika/v1), and
// encodes lease tokens. The server and the remote client share it so both
// sides agree on one mapping. It imports only store, gen and the protobuf
// runtime.
package wire
