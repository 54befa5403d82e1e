// Package gen holds the code generated from the protobuf schemas in
// proto/troika/v1 (package troika.v1): message types in gen/troika/v1 and
// Connect-RPC clients and handlers in gen/troika/v1/troikav1connect. Do not
// edit the generated files; change the .proto files and regenerate with
//
//	go generate ./gen
//
// which runs buf and the two protoc plugins through `go run` at pinned
// versions (no globally installed tool). gen imports only the protobuf and
// Connect runtimes.
package gen

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate ../proto --template buf.gen.yaml
