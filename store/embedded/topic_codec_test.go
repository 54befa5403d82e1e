package embedded

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"github.com/troikahq/troika/store"
)

func TestEventCodecRoundTrip(t *testing.T) {
	t.Parallel()
	ev := store.Event{Kind: "order.placed", Args: []byte(`{"id":1}`), OrderingKey: "c-7", Metadata: map[string]string{"a": "1", "b": ""}}
	got, err := decodeEvent(appendEvent(nil, &ev))
	if err != nil || got.Kind != ev.Kind || string(got.Args) != string(ev.Args) || got.OrderingKey != ev.OrderingKey || !maps.Equal(got.Metadata, ev.Metadata) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	id := store.ID{1, 2, 3}
	name, at, gotID, err := parseEventKey(eventKey("orders", -5, id))
	if err != nil || name != "orders" || at != -5 || gotID != id {
		t.Fatalf("event key: %q %d %s %v", name, at, gotID, err)
	}
	// Keys sort by publish time, instants before 1970 first.
	keys := [][]byte{eventKey("t", 10, id), eventKey("t", -10, id), eventKey("t", 0, id)}
	slices.SortFunc(keys, bytes.Compare)
	for i, want := range []int64{-10, 0, 10} {
		if _, at, _, _ := parseEventKey(keys[i]); at != want {
			t.Errorf("key %d is at %d, want %d", i, at, want)
		}
	}
	// A topic's keys stay inside its bounds, and a prefix topic's do not.
	k := eventKey("t", 1, id)
	if bytes.Compare(k, topicEventPrefix("t")) < 0 || bytes.Compare(k, topicEventEnd("t")) >= 0 {
		t.Errorf("key outside its topic's bounds")
	}
	if o := eventKey("tt", 1, id); bytes.Compare(o, topicEventEnd("t")) < 0 {
		t.Errorf("topic tt's key falls inside topic t's bounds")
	}
}

// FuzzEventRecords feeds arbitrary bytes to the event decoders: they fail
// cleanly or decode to something that encodes back to the same bytes.
func FuzzEventRecords(f *testing.F) {
	ev := store.Event{Kind: "k", Args: []byte(`{}`), OrderingKey: "o", Metadata: map[string]string{"a": "b"}}
	f.Add(appendEvent(nil, &ev), eventKey("t", 1, store.ID{9}))
	f.Add([]byte{eventVersion}, []byte{prefixEvent})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, val, key []byte) {
		if got, err := decodeEvent(val); err == nil {
			again, err := decodeEvent(appendEvent(nil, &got))
			if err != nil || again.Kind != got.Kind || string(again.Args) != string(got.Args) ||
				again.OrderingKey != got.OrderingKey || !maps.Equal(again.Metadata, got.Metadata) {
				t.Fatalf("decoded %+v does not round-trip: %+v, %v", got, again, err)
			}
		}
		if name, at, id, err := parseEventKey(key); err == nil && !bytes.Equal(eventKey(name, at, id), key) {
			t.Fatalf("parsed key %q does not re-encode", key)
		}
	})
}
