package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// publishResult is the JSON output of publish (TopicService.Publish's
// response, DESIGN §5).
type publishResult struct {
	ID         string   `json:"id"`
	Deliveries int      `json:"deliveries"`
	JobIDs     []string `json:"jobIds"`
}

// topicErr turns the SDK's "no topics on this store" into the CLI's
// message: over the API, a server whose store has no message queue (or an
// older server without the TopicService).
func (a *app) topicErr(err error) error {
	if errors.Is(err, errors.ErrUnsupported) && !a.dataSet {
		return cli.Failf("the server at %s does not serve topics (its store or version lacks the TopicService): %v", a.server, err)
	}
	return err
}

func (a *app) publishCmd() *cobra.Command {
	var (
		orderingKey string
		meta        cli.MetaValue
	)
	cmd := &cobra.Command{
		Use:   "publish TOPIC KIND [ARGS_JSON]",
		Short: "Publish an event to a topic",
		Long: `Publish an event of KIND with JSON arguments (default {}; "-" reads them from
standard input) to TOPIC. The event is stored once and, in the same durable
write, becomes one job per subscription of the topic that takes KIND, on that
subscription's queue. A topic without subscriptions keeps the event for its
retention (7 days by default), so a later subscription can start from it.
Prints the event's id and how many deliveries it made.`,
		Example: `  troika publish orders order.placed '{"order":42}' --ordering-key customer-7
  troika publish audit user.login '{"user":42}' --meta traceparent=00-abc-def-01 --json`,
		Args: args(cobra.RangeArgs(2, 3)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			raw := json.RawMessage("{}")
			if len(args) == 3 {
				var err error
				if raw, err = a.jsonArgs(args[2]); err != nil {
					return err
				}
			}
			var opts []troika.EnqueueOption
			if cmd.Flags().Changed("ordering-key") {
				opts = append(opts, troika.OrderingKey(orderingKey))
			}
			if len(meta.M) > 0 {
				opts = append(opts, troika.Metadata(meta.M))
			}
			var res *troika.PublishResult
			err := a.withClient(cmd.Context(), false, func(c *troika.Client) error {
				var err error
				res, err = c.Publish(cmd.Context(), args[0], troika.RawArgs{KindName: args[1], JSON: raw}, opts...)
				return err
			})
			if err != nil {
				return a.topicErr(err)
			}
			if a.json {
				out := publishResult{ID: res.ID.String(), Deliveries: res.Deliveries, JobIDs: []string{}}
				for _, id := range res.JobIDs {
					out.JobIDs = append(out.JobIDs, id.String())
				}
				return a.printJSON(out)
			}
			fmt.Fprintf(a.stdout, "%s\t%d deliveries\n", res.ID, res.Deliveries)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&orderingKey, "ordering-key", "", "deliver the events of this key in order, one at a time, per subscription")
	f.Var(&meta, "meta", "metadata key=value (repeatable)")
	return cmd
}
