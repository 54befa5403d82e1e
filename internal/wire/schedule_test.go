package wire

import (
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/troikahq/troika/store"
)

// A schedule whose next instants fall after year 9999 still converts: the
// unrepresentable instants are left out instead of failing the response.
func TestScheduleInstantsPastTimestampRange(t *testing.T) {
	t.Parallel()
	end := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	sc := &store.Schedule{ScheduleDefinition: store.ScheduleDefinition{ID: "s", Spec: "@every 1s"}, NextFireAt: end.Add(time.Hour)}
	out, err := Schedule(sc, []time.Time{end, end.Add(time.Second)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if out.NextFireAt != nil || len(out.NextFireTimes) != 1 || !out.NextFireTimes[0].AsTime().Equal(end) {
		t.Fatalf("next = %v, times = %v", out.NextFireAt, out.NextFireTimes)
	}
	if _, err := protojson.Marshal(out); err != nil {
		t.Fatalf("marshal: %v", err)
	}
}
