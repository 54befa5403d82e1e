package server_test

import (
	"context"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/troikahq/troika/gen/troika/v1"
	"github.com/troikahq/troika/gen/troika/v1/troikav1connect"
)

// BenchmarkWorkerProtocol measures one job's trip through the API in
// batches of 100, with the binary codec the Go SDK uses: EnqueueMany,
// Claim, Complete. Reported per job.
func BenchmarkWorkerProtocol(b *testing.B) {
	e := setup(b, false)
	js := troikav1connect.NewJobServiceClient(http.DefaultClient, e.url)
	ws := troikav1connect.NewWorkerServiceClient(http.DefaultClient, e.url)
	ctx := context.Background()
	const batch = 100
	enq := &v1.EnqueueManyRequest{}
	for range batch {
		enq.Jobs = append(enq.Jobs, &v1.EnqueueRequest{Kind: "bench", ArgsJson: []byte(`{"n":1}`)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		if _, err := js.EnqueueMany(ctx, connect.NewRequest(enq)); err != nil {
			b.Fatal(err)
		}
		out, err := ws.Claim(ctx, connect.NewRequest(&v1.ClaimRequest{Max: batch}))
		if err != nil {
			b.Fatal(err)
		}
		done := &v1.CompleteRequest{}
		for _, j := range out.Msg.GetJobs() {
			done.Leases = append(done.Leases, &v1.CompleteItem{Id: j.GetId(), LeaseToken: j.GetLeaseToken()})
		}
		if _, err := ws.Complete(ctx, connect.NewRequest(done)); err != nil {
			b.Fatal(err)
		}
	}
}
