package wire

import (
	"testing"

	"github.com/troikahq/troika/store"
)

func TestLeaseRoundTrip(t *testing.T) {
	t.Parallel()
	for _, ref := range []store.LeaseRef{
		{ID: store.NewID(), Attempt: 1, Token: 1},
		{ID: store.NewID(), Attempt: 25, Token: 1<<63 + 12345},
		{ID: store.NewID(), Attempt: 1 << 20, Token: ^uint64(0)},
	} {
		got, err := DecodeLease(EncodeLease(ref))
		if err != nil || got != ref {
			t.Fatalf("round trip of %+v = %+v, %v", ref, got, err)
		}
	}
	for _, bad := range []string{"", "AQ", "not base64!", EncodeLease(store.LeaseRef{ID: store.NewID(), Attempt: 1})} {
		if _, err := DecodeLease(bad); err != ErrBadLeaseToken {
			t.Errorf("DecodeLease(%q) = %v, want ErrBadLeaseToken", bad, err)
		}
	}
}

// FuzzDecodeLease: any string either decodes to a lease that encodes back
// to the same token, or is rejected; nothing panics.
func FuzzDecodeLease(f *testing.F) {
	f.Add(EncodeLease(store.LeaseRef{ID: store.NewID(), Attempt: 3, Token: 42}))
	f.Add("AQGiMsb35nHQghq7Svb0F2gAAAEAAAAAAQE")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := DecodeLease(s)
		if err != nil {
			return
		}
		if ref.Token == 0 || ref.ID.IsZero() || ref.Attempt < 0 {
			t.Fatalf("accepted an invalid lease %+v from %q", ref, s)
		}
		if again, err := DecodeLease(EncodeLease(ref)); err != nil || again != ref {
			t.Fatalf("re-encoding %+v: %+v, %v", ref, again, err)
		}
	})
}
