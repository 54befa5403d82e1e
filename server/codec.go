package server

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// strictJSON is the server's JSON codec: like Connect's default, but an
// unknown field is an error (invalid_argument) rather than silently
// ignored, and responses always carry every field (false, 0 and empty
// included) so scripts can rely on them.
type strictJSON struct{}

func (strictJSON) Name() string { return "json" }

func (strictJSON) Marshal(m any) ([]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a protobuf message", m)
	}
	return protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(pm)
}

func (strictJSON) Unmarshal(b []byte, m any) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a protobuf message", m)
	}
	if len(b) == 0 {
		b = []byte("{}")
	}
	return protojson.UnmarshalOptions{}.Unmarshal(b, pm)
}
