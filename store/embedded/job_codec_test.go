package embedded

import (
	"bytes"
	"maps"
	"testing"

	"github.com/troikahq/troika/store"
)

// codecJob is a delivery with every optional section set.
func codecJob() *job {
	return &job{
		id: store.ID{7}, q: &queue{name: "q"}, kind: "order.placed", args: []byte(`{"id":1}`),
		leaseHolder: "w1", leaseToken: 9, leaseDeadline: 30, timeout: 5,
		runAt: 1, createdAt: 2, attemptedAt: 3, finishedAt: 4, prio: 2, attempt: 1, maxAttempts: 25,
		state: stRunning, heapIdx: -1, dueIdx: -1,
		x: &jobExtra{
			uniqueKey: "u", uniqueUntil: 8, metadata: map[string]string{"traceparent": "00-x"},
			tags: []string{"a"}, errors: []store.AttemptError{{Attempt: 1, Message: "m", Stack: "s"}},
			result: []byte("r"), orderingKey: "c-7", subID: store.ID{5},
			event: store.ID{6}, topicName: "orders", subName: "billing",
		},
	}
}

func decodeTest(t *testing.T, v []byte) *job {
	t.Helper()
	got, qname, err := decodeJob(store.ID{7}, v, &interner{})
	if err != nil {
		t.Fatal(err)
	}
	got.q = &queue{name: qname}
	return got
}

func TestJobCodec(t *testing.T) {
	t.Parallel()
	t.Run("delivery round trip", func(t *testing.T) {
		t.Parallel()
		j := codecJob()
		v := appendJob(nil, j)
		got := decodeTest(t, v)
		if !bytes.Equal(appendJob(nil, got), v) {
			t.Fatal("decoded job encodes to other bytes")
		}
		var snap store.Job
		got.snapshot(&snap)
		want := map[string]string{"traceparent": "00-x", store.MetaTopic: "orders",
			store.MetaSubscription: "billing", store.MetaEvent: store.ID{6}.String()}
		if !maps.Equal(snap.Metadata, want) {
			t.Errorf("snapshot metadata %v, want %v", snap.Metadata, want)
		}
		if !maps.Equal(got.x.metadata, map[string]string{"traceparent": "00-x"}) {
			t.Errorf("stored metadata %v holds more than the event's own", got.x.metadata)
		}
	})
	t.Run("version 1 record", func(t *testing.T) {
		t.Parallel()
		// A version 1 delivery kept the store's keys in its metadata and
		// ended its MQ section after the subscription ID: the version 2
		// bytes of such a job without event and names, minus their three
		// empty fields.
		j := codecJob()
		j.x.event, j.x.topicName, j.x.subName = store.ID{}, "", ""
		j.x.metadata = map[string]string{store.MetaTopic: "orders", store.MetaEvent: "e1"}
		v2 := appendJob(nil, j)
		body := v2[1 : len(v2)-crcLen]
		if !bytes.HasSuffix(body, []byte{0, 0, 0}) {
			t.Fatalf("version 2 body does not end in three empty fields: %x", body)
		}
		v1 := append([]byte{1}, body[:len(body)-3]...)
		v1 = sealValue(v1, 0)
		got := decodeTest(t, v1)
		if got.x.delivered() || got.x.subID != (store.ID{5}) || got.x.orderingKey != "c-7" {
			t.Fatalf("version 1 MQ section read as %+v", got.x)
		}
		var snap store.Job
		got.snapshot(&snap)
		if !maps.Equal(snap.Metadata, j.x.metadata) {
			t.Errorf("version 1 metadata %v, want %v", snap.Metadata, j.x.metadata)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		v := appendJob(nil, codecJob())
		for name, bad := range map[string][]byte{
			"empty":     nil,
			"version 3": sealValue(append([]byte{3}, v[1:len(v)-crcLen]...), 0),
			"truncated": sealValue(append([]byte(nil), v[:len(v)-crcLen-1]...), 0),
			"bit flip":  append(append([]byte(nil), v[:5]...), append([]byte{v[5] ^ 1}, v[6:]...)...),
		} {
			if _, _, err := decodeJob(store.ID{7}, bad, &interner{}); err == nil {
				t.Errorf("%s: decoded", name)
			}
		}
	})
}

// FuzzJobRecord feeds arbitrary bytes to the job decoder: it fails cleanly
// or decodes to a job whose encoding decodes and encodes again unchanged.
func FuzzJobRecord(f *testing.F) {
	f.Add(appendJob(nil, codecJob()))
	plain := &job{q: &queue{name: "default"}, kind: "k", state: stAvailable}
	f.Add(appendJob(nil, plain))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, v []byte) {
		got, qname, err := decodeJob(store.ID{1}, v, &interner{})
		if err != nil {
			return
		}
		got.q = &queue{name: qname}
		enc := appendJob(nil, got)
		again := decodeTest(t, enc)
		if !bytes.Equal(appendJob(nil, again), enc) {
			t.Fatalf("decoded %+v does not round-trip", got)
		}
	})
}
