package store

import (
	"bytes"
	"fmt"

	"github.com/google/uuid"
)

// ID identifies a job. It is a UUIDv7: its byte order is creation-time order,
// so sorting IDs sorts jobs by when they were created. The zero ID is never a
// valid job id.
type ID [16]byte

// NewID returns a new time-ordered ID. IDs made by one process are strictly
// increasing. It panics only if the system's random source fails.
func NewID() ID { return ID(uuid.Must(uuid.NewV7())) }

// ParseID parses the canonical text form of an ID
// ("0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00"). It returns an *InvalidArgumentError
// for anything else.
func ParseID(s string) (ID, error) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return ID{}, &InvalidArgumentError{Field: "id", Reason: fmt.Sprintf("%q is not a job id (want a UUID such as 0190f7d5-6c1e-7c3a-9b1e-2f6d7a1b9c00)", truncate(s, 80))}
	}
	if u == (uuid.UUID{}) {
		return ID{}, &InvalidArgumentError{Field: "id", Reason: "the zero UUID is not a job id"}
	}
	return ID(u), nil
}

// String returns the canonical text form of id.
func (id ID) String() string { return uuid.UUID(id).String() }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// Compare returns -1, 0 or +1 as id sorts before, equal to or after other.
func (id ID) Compare(other ID) int { return bytes.Compare(id[:], other[:]) }

// MarshalText implements encoding.TextMarshaler (the canonical text form).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
