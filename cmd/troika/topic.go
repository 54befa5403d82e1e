package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// The JSON output of the topic commands: TopicService's shapes (DESIGN §5),
// lowerCamelCase, times RFC 3339, ages in seconds.
type (
	topicList struct {
		Topics []topicOut `json:"topics"`
	}
	topicOut struct {
		Name                  string            `json:"name"`
		Retention             string            `json:"retention"`
		Events                int64             `json:"events"`
		OldestEventAgeSeconds float64           `json:"oldestEventAgeSeconds"`
		CreatedAt             time.Time         `json:"createdAt"`
		Subscriptions         []subscriptionOut `json:"subscriptions"`
	}
	subscriptionOut struct {
		Topic       string    `json:"topic"`
		Name        string    `json:"name"`
		Queue       string    `json:"queue"`
		Kinds       []string  `json:"kinds"`
		Priority    int       `json:"priority"`
		MaxAttempts int       `json:"maxAttempts"`
		Timeout     string    `json:"timeout,omitempty"`
		CreatedAt   time.Time `json:"createdAt"`
		Lag         lagOut    `json:"lag"`
		Delivered   *int      `json:"delivered,omitempty"` // subscribe only
	}
	lagOut struct {
		Undelivered      int64   `json:"undelivered"`
		OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
	}
	replayOut struct {
		Topic     string `json:"topic"`
		Name      string `json:"name"`
		Delivered int    `json:"delivered"`
	}
)

func subscriptionView(s *troika.SubscriptionInfo) subscriptionOut {
	out := subscriptionOut{
		Topic: s.Topic, Name: s.Name, Queue: s.Queue, Kinds: s.Kinds, Priority: s.Priority, MaxAttempts: s.MaxAttempts,
		Timeout: durString(s.Timeout), CreatedAt: s.CreatedAt.UTC(),
		Lag: lagOut{Undelivered: s.Lag.Undelivered, OldestAgeSeconds: s.Lag.OldestAge.Seconds()},
	}
	if out.Kinds == nil {
		out.Kinds = []string{}
	}
	return out
}

func (a *app) topicCmd() *cobra.Command {
	c := a.group("topic", "Manage topics and subscriptions (the message queue)",
		a.topicListCmd(), a.topicSubscribeCmd(), a.topicUnsubscribeCmd(), a.topicReplayCmd())
	c.Long = `Manage topics and their subscriptions. A publish to a topic (troika publish)
becomes one job per subscription on the subscription's queue; a subscriber is
a worker serving that queue. See docs/topics.md.`
	return c
}

func (a *app) topicListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list [TOPIC]",
		Short: "List topics and their subscriptions with lag",
		Long: `List every topic (or one) with its retained events and its subscriptions.
A subscription's lag is its deliveries not yet finished (scheduled,
available, running or retryable) and the age of the oldest of them.`,
		Example: `  troika topic list
  troika topic list orders --json`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			var topics []*troika.TopicInfo
			var subs []*troika.SubscriptionInfo
			err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				if topics, err = c.ListTopics(cmd.Context()); err != nil {
					return err
				}
				topic := ""
				if len(args) == 1 {
					topic = args[0]
				}
				subs, err = c.ListSubscriptions(cmd.Context(), topic)
				return err
			})
			if err != nil {
				return a.topicErr(err)
			}
			out := topicList{Topics: []topicOut{}}
			for _, t := range topics {
				if len(args) == 1 && t.Name != args[0] {
					continue
				}
				to := topicOut{Name: t.Name, Retention: t.Retention.String(), Events: t.Events,
					OldestEventAgeSeconds: t.OldestEventAge.Seconds(), CreatedAt: t.CreatedAt.UTC(), Subscriptions: []subscriptionOut{}}
				for _, s := range subs {
					if s.Topic == t.Name {
						to.Subscriptions = append(to.Subscriptions, subscriptionView(s))
					}
				}
				out.Topics = append(out.Topics, to)
			}
			if a.json {
				return a.printJSON(out)
			}
			if len(out.Topics) == 0 {
				fmt.Fprintln(a.stderr, "no topics")
				return nil
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "TOPIC\tEVENTS\tOLDEST\tRETENTION\tSUBSCRIPTION\tQUEUE\tKINDS\tUNDELIVERED\tOLDEST UNDELIVERED")
			for _, t := range out.Topics {
				head := fmt.Sprintf("%s\t%d\t%s\t%s", t.Name, t.Events, age(t.OldestEventAgeSeconds), t.Retention)
				if len(t.Subscriptions) == 0 {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\n", head)
				}
				for _, s := range t.Subscriptions {
					kinds := "*"
					if len(s.Kinds) > 0 {
						kinds = strings.Join(s.Kinds, ",")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", head, s.Name, s.Queue, kinds, s.Lag.Undelivered, age(s.Lag.OldestAgeSeconds))
					head = "\t\t\t"
				}
			}
			return tw.Flush()
		}),
	}
}

// age formats an age in seconds for a table; "-" for none.
func age(sec float64) string {
	if sec <= 0 {
		return "-"
	}
	return (time.Duration(sec * float64(time.Second))).Round(time.Second).String()
}

// parseStart parses --start: now, earliest, or a time as cli.ParseTime
// reads it (RFC 3339, a local date and time).
func parseStart(s string, now time.Time) (troika.SubscriptionStart, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "now":
		return troika.StartNow(), nil
	case "earliest":
		return troika.StartEarliest(), nil
	}
	t, err := cli.ParseTime(s, now, nil)
	if err != nil {
		return troika.SubscriptionStart{}, cli.Usagef("--start: %v (or now, earliest)", err)
	}
	return troika.StartAt(t), nil
}

func (a *app) topicSubscribeCmd() *cobra.Command {
	var (
		queue, start       string
		kinds              []string
		priority, attempts int
		timeout            cli.DurationValue
	)
	cmd := &cobra.Command{
		Use:   "subscribe TOPIC NAME",
		Short: "Create a subscription",
		Long: `Create subscription NAME on TOPIC (creating the topic if needed): an
independent consumer group whose deliveries are jobs on --queue (default
TOPIC.NAME). --start chooses where it starts: now (default), earliest (every
retained event) or a past time; those events are delivered at once.`,
		Example: `  troika topic subscribe orders billing
  troika topic subscribe orders shipping --kind order.paid --queue shipping --start earliest
  troika topic subscribe orders audit --start 2026-11-25T00:00:00Z --max-attempts 5`,
		Args: args(cobra.ExactArgs(2)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			st, err := parseStart(start, time.Now())
			if err != nil {
				return err
			}
			s := troika.Subscription{Topic: args[0], Name: args[1], Queue: queue, Kinds: kinds,
				Priority: priority, MaxAttempts: attempts, Timeout: timeout.D, Start: st}
			var info *troika.SubscriptionInfo
			err = a.withClient(cmd.Context(), false, func(c *troika.Client) error {
				var err error
				info, err = c.CreateSubscription(cmd.Context(), s)
				return err
			})
			if err != nil {
				return a.topicErr(err)
			}
			if a.json {
				out := subscriptionView(info)
				out.Delivered = &info.Delivered
				return a.printJSON(out)
			}
			fmt.Fprintf(a.stdout, "subscribed %s to %s on queue %s; %d retained events delivered\n", info.Name, info.Topic, info.Queue, info.Delivered)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&queue, "queue", "", "queue of the deliveries (default TOPIC.NAME)")
	f.StringArrayVar(&kinds, "kind", nil, "deliver only this event kind (repeatable; default every kind)")
	f.StringVar(&start, "start", "now", "where to start: now, earliest, or a past time")
	f.IntVar(&priority, "priority", 0, "deliveries' priority, 1 (most urgent) to 4 (default 2)")
	f.IntVar(&attempts, "max-attempts", 0, "deliveries' attempts before dead (default 25)")
	f.Var(&timeout, "timeout", "deliveries' attempt timeout (default: the worker's)")
	return cmd
}

func (a *app) topicUnsubscribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unsubscribe TOPIC NAME",
		Short: "Delete a subscription (its jobs stay on its queue)",
		Args:  args(cobra.ExactArgs(2)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				return c.DeleteSubscription(cmd.Context(), args[0], args[1])
			})
			if err != nil {
				return a.topicErr(err)
			}
			if a.json {
				return a.printJSON(map[string]string{"topic": args[0], "name": args[1]})
			}
			fmt.Fprintf(a.stdout, "unsubscribed %s from %s\n", args[1], args[0])
			return nil
		}),
	}
}

func (a *app) topicReplayCmd() *cobra.Command {
	var from cli.TimeValue
	cmd := &cobra.Command{
		Use:   "replay TOPIC NAME",
		Short: "Deliver retained events to a subscription again",
		Long: `Deliver again, as new jobs, every retained event of TOPIC published at or
after --from (default: the earliest retained) that subscription NAME takes.
Earlier deliveries are not touched.`,
		Example: `  troika topic replay orders billing
  troika topic replay orders billing --from 2026-11-25T10:00:00Z`,
		Args: args(cobra.ExactArgs(2)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			var n int
			err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				n, err = c.ReplaySubscription(cmd.Context(), args[0], args[1], from.T)
				return err
			})
			if err != nil {
				return a.topicErr(err)
			}
			if a.json {
				return a.printJSON(replayOut{Topic: args[0], Name: args[1], Delivered: n})
			}
			fmt.Fprintf(a.stdout, "replayed %d events to %s/%s\n", n, args[0], args[1])
			return nil
		}),
	}
	cmd.Flags().Var(&from, "from", "replay events published at or after this time (default: earliest retained)")
	return cmd
}
