package wire

import (
	"encoding/base64"
	"encoding/binary"
	"errors"

	"github.com/troikahq/troika/store"
)

// leaseVersion is the first byte of every encoded lease token.
const leaseVersion = 1

// ErrBadLeaseToken is returned by DecodeLease for a token that is not one
// EncodeLease made.
var ErrBadLeaseToken = errors.New("malformed lease token")

// EncodeLease returns the opaque wire form of a lease: URL-safe base64 of a
// version byte, the job id, the fencing token and the attempt. Clients must
// treat it as opaque and send it back unchanged.
func EncodeLease(ref store.LeaseRef) string {
	var b [1 + 16 + 8 + binary.MaxVarintLen64]byte
	b[0] = leaseVersion
	copy(b[1:17], ref.ID[:])
	binary.BigEndian.PutUint64(b[17:25], ref.Token)
	n := binary.PutUvarint(b[25:], uint64(max(ref.Attempt, 0)))
	return base64.RawURLEncoding.EncodeToString(b[:25+n])
}

// DecodeLease parses a token made by EncodeLease. It returns
// ErrBadLeaseToken for anything else; it never panics.
func DecodeLease(s string) (store.LeaseRef, error) {
	if len(s) > 64 {
		return store.LeaseRef{}, ErrBadLeaseToken
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 26 || b[0] != leaseVersion {
		return store.LeaseRef{}, ErrBadLeaseToken
	}
	var ref store.LeaseRef
	copy(ref.ID[:], b[1:17])
	ref.Token = binary.BigEndian.Uint64(b[17:25])
	attempt, n := binary.Uvarint(b[25:])
	if n <= 0 || 25+n != len(b) || attempt > 1<<30 || ref.Token == 0 || ref.ID.IsZero() {
		return store.LeaseRef{}, ErrBadLeaseToken
	}
	ref.Attempt = int(attempt)
	return ref, nil
}
