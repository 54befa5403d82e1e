// Command outbox shows the transactional outbox with Troika on PostgreSQL:
// a business row (an order) and the job that follows it (a receipt email)
// are written in ONE transaction, so the job exists if and only if the
// order does. A rolled-back order leaves no job behind. A Worker then sends
// the receipt and the program exits.
//
//	TROIKA_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test go run ./examples/outbox
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/troikahq/troika"
)

// SendReceipt is the job that follows a placed order.
type SendReceipt struct {
	OrderID string `json:"order_id"`
	Email   string `json:"email"`
}

// Kind names the handler; it is stored with the job.
func (SendReceipt) Kind() string { return "order.receipt" }

func main() {
	url := os.Getenv("TROIKA_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	if err := run(context.Background(), url, "outbox_"+hex.EncodeToString(r[:]), true, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run places two orders in schema (one committed, one rolled back), works
// the receipts and, with cleanup, drops the schema at the end.
func run(ctx context.Context, url, schema string, cleanup bool, out io.Writer) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Troika's tables live in their own schema; the app's table beside them.
	c, err := troika.OpenPostgres(ctx, pool, troika.Config{}, troika.PostgresSchema(schema))
	if err != nil {
		return err
	}
	defer func() {
		_ = c.Close() // stops the worker's maintenance before the schema goes
		if cleanup {
			_, _ = pool.Exec(context.WithoutCancel(ctx), "DROP SCHEMA "+schema+" CASCADE")
		}
	}()
	if _, err := pool.Exec(ctx, "CREATE TABLE "+schema+".orders (id text PRIMARY KEY, email text NOT NULL)"); err != nil {
		return err
	}

	// placeOrder writes the order and its receipt job in one transaction.
	placeOrder := func(id, email string, fail bool) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".orders (id, email) VALUES ($1, $2)", id, email); err != nil {
				return err
			}
			if _, err := c.EnqueueTx(ctx, tx, SendReceipt{OrderID: id, Email: email}, troika.Unique("receipt:"+id, 24*time.Hour)); err != nil {
				return err
			}
			if fail {
				return errors.New("payment declined") // rolls back the order AND the job
			}
			return nil
		})
	}
	if err := placeOrder("A-1001", "ada@example.com", false); err != nil {
		return err
	}
	fmt.Fprintln(out, "order A-1001 committed with its receipt job")
	if err := placeOrder("A-1002", "bob@example.com", true); err != nil {
		fmt.Fprintf(out, "order A-1002 rolled back (%v): no receipt job exists\n", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	w := troika.NewWorker(c, troika.WorkerConfig{Concurrency: 2})
	troika.Handle(w, func(ctx context.Context, j *troika.Job[SendReceipt]) error {
		fmt.Fprintf(out, "receipt for order %s sent to %s\n", j.Args.OrderID, j.Args.Email)
		stop() // the one committed order is done: shut the worker down
		return nil
	})
	if err := w.Run(runCtx); err != nil {
		return err
	}
	page, err := c.ListJobs(ctx, troika.ListParams{})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "jobs in the store: %d (%s)\n", len(page.Jobs), page.Jobs[0].State)
	return nil
}
