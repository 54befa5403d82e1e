package embedded

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/troikahq/troika/store"
)

// idGen makes UUIDv7 IDs that strictly increase within a Store (and sort
// after every ID found on open), without a lock or a system call per ID:
// 48 bits of Unix milliseconds, the version, a 74-bit counter seeded at
// random each millisecond (12 bits in rand_a, 62 in rand_b), the variant.
// Within one millisecond, or when the clock steps back, the counter of the
// last ID is incremented by a small random step. Guarded by Store.mu.
type idGen struct {
	last store.ID
	rng  *rand.ChaCha8
}

func (g *idGen) next(now time.Time) store.ID {
	if g.rng == nil {
		var seed [32]byte
		_, _ = crand.Read(seed[:]) // never fails on supported platforms (Go 1.24+)
		g.rng = rand.NewChaCha8(seed)
	}
	ms := uint64(now.UnixMilli()) & (1<<48 - 1)
	lastMs := binary.BigEndian.Uint64(g.last[:8]) >> 16
	var hi, lo uint64 // hi: 12-bit counter part; lo: 62-bit counter part
	if ms > lastMs || g.last == (store.ID{}) {
		r := g.rng.Uint64()
		hi = r & 0x7ff // top bit clear: leaves room to count up
		lo = g.rng.Uint64() >> 2
	} else {
		ms = lastMs
		hi = binary.BigEndian.Uint64(g.last[:8]) & 0xfff
		lo = binary.BigEndian.Uint64(g.last[8:]) & (1<<62 - 1)
		lo += 1 + g.rng.Uint64()&0xffff
		if lo >= 1<<62 {
			lo -= 1 << 62
			hi++
			if hi > 0xfff { // counter exhausted: borrow the next millisecond
				hi = 0
				ms++
			}
		}
	}
	var id store.ID
	binary.BigEndian.PutUint64(id[:8], ms<<16|0x7<<12|hi)
	binary.BigEndian.PutUint64(id[8:], 0b10<<62|lo)
	g.last = id
	return id
}
