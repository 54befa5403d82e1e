package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/troikahq/troika"
	"github.com/troikahq/troika/internal/cli"
)

// The JSON output of the schedule commands: ScheduleService's shapes
// (DESIGN §5), lowerCamelCase, times RFC 3339, durations as Go strings.
type (
	scheduleList struct {
		Schedules []scheduleOut `json:"schedules"`
	}
	scheduleOut struct {
		ID            string            `json:"id"`
		Spec          string            `json:"spec"`
		Timezone      string            `json:"timezone"`
		Jitter        string            `json:"jitter,omitempty"`
		StartAt       *time.Time        `json:"startAt,omitempty"`
		EndAt         *time.Time        `json:"endAt,omitempty"`
		MisfirePolicy string            `json:"misfirePolicy"`
		CatchUpLimit  int               `json:"catchUpLimit,omitempty"`
		OverlapPolicy string            `json:"overlapPolicy"`
		Paused        bool              `json:"paused"`
		Job           scheduleJobOut    `json:"job"`
		CreatedAt     time.Time         `json:"createdAt"`
		UpdatedAt     time.Time         `json:"updatedAt"`
		LastFireAt    *time.Time        `json:"lastFireAt,omitempty"`
		NextFireAt    *time.Time        `json:"nextFireAt,omitempty"`
		NextFireTimes []time.Time       `json:"nextFireTimes"`
		Fires         []scheduleFireOut `json:"fires"`
	}
	scheduleJobOut struct {
		Kind        string            `json:"kind"`
		Args        json.RawMessage   `json:"args"`
		Queue       string            `json:"queue"`
		Priority    int               `json:"priority"`
		MaxAttempts int               `json:"maxAttempts"`
		Timeout     string            `json:"timeout,omitempty"`
		Metadata    map[string]string `json:"metadata,omitempty"`
		Tags        []string          `json:"tags,omitempty"`
	}
	scheduleFireOut struct {
		Instant time.Time `json:"instant"`
		At      time.Time `json:"at"`
		Outcome string    `json:"outcome"`
		JobID   string    `json:"jobId,omitempty"`
		Missed  int       `json:"missed,omitempty"`
	}
	scheduleAddOut struct {
		Result   string      `json:"result"` // created, updated or unchanged
		Schedule scheduleOut `json:"schedule"`
	}
	triggerOut struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
)

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func scheduleView(s *troika.ScheduleInfo) scheduleOut {
	tz := s.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	out := scheduleOut{
		ID: s.ID, Spec: s.Spec, Timezone: tz, Jitter: durString(s.Jitter),
		StartAt: timePtr(s.StartAt), EndAt: timePtr(s.EndAt),
		MisfirePolicy: string(s.MisfirePolicy), CatchUpLimit: s.CatchUpLimit, OverlapPolicy: string(s.OverlapPolicy),
		Paused: s.Paused,
		Job: scheduleJobOut{Kind: s.Job.Kind, Args: json.RawMessage(s.Job.Args), Queue: s.Job.Queue, Priority: s.Job.Priority,
			MaxAttempts: s.Job.MaxAttempts, Timeout: durString(s.Job.Timeout), Metadata: s.Job.Metadata, Tags: s.Job.Tags},
		CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
		LastFireAt: timePtr(s.LastFireAt), NextFireAt: timePtr(s.NextFireAt),
		NextFireTimes: []time.Time{}, Fires: []scheduleFireOut{},
	}
	if len(out.Job.Args) == 0 {
		out.Job.Args = json.RawMessage("{}")
	}
	for _, t := range s.NextFireTimes {
		out.NextFireTimes = append(out.NextFireTimes, t.UTC())
	}
	for _, f := range s.Fires {
		fo := scheduleFireOut{Instant: f.Instant.UTC(), At: f.At.UTC(), Outcome: string(f.Outcome), Missed: f.Missed}
		if !f.JobID.IsZero() {
			fo.JobID = f.JobID.String()
		}
		out.Fires = append(out.Fires, fo)
	}
	return out
}

func (a *app) scheduleCmd() *cobra.Command {
	c := a.group("schedule", "Manage cron and interval schedules",
		a.scheduleListCmd(), a.scheduleAddCmd(), a.scheduleRemoveCmd(),
		a.schedulePauseCmd("pause", true), a.schedulePauseCmd("resume", false),
		a.scheduleTriggerCmd(),
	)
	c.Long = `Manage schedules: persisted cron or interval rules that enqueue a job at each
fire instant. Schedules fire in the process that runs maintenance (troika
server, or a Go program with troika.Open); these commands only change and
show them. See docs/scheduler.md for specs, time zones, DST and policies.`
	return c
}

// zoneTime formats t in the schedule's zone with its abbreviation, so DST
// shows; "-" when zero.
func zoneTime(t time.Time, tz string) string {
	if t.IsZero() {
		return "-"
	}
	if loc, err := time.LoadLocation(tz); err == nil && tz != "" {
		t = t.In(loc)
	} else {
		t = t.UTC()
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

func (a *app) scheduleListCmd() *cobra.Command {
	var next int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List schedules with their next fire times and last outcomes",
		Example: `  troika schedule list
  troika schedule list --next 5
  troika schedule list --json`,
		Args: args(cobra.NoArgs),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if next < 1 || next > 100 {
				return cli.Usagef("--next must be 1 to 100, got %d", next)
			}
			var list []*troika.ScheduleInfo
			states := map[troika.JobID]troika.JobState{}
			err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				if list, err = c.ListSchedules(cmd.Context(), troika.ScheduleListParams{Next: next}); err != nil {
					return err
				}
				if a.json {
					return nil
				}
				for _, s := range list {
					if n := len(s.Fires); n > 0 && !s.Fires[n-1].JobID.IsZero() {
						if j, err := c.GetJob(cmd.Context(), s.Fires[n-1].JobID); err == nil {
							states[j.ID] = j.State
						}
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if a.json {
				out := scheduleList{Schedules: []scheduleOut{}}
				for _, s := range list {
					out.Schedules = append(out.Schedules, scheduleView(s))
				}
				return a.printJSON(out)
			}
			if len(list) == 0 {
				fmt.Fprintln(a.stderr, "no schedules")
				return nil
			}
			return a.printSchedules(list, states, next)
		}),
	}
	cmd.Flags().IntVar(&next, "next", 1, "how many upcoming fire times to show per schedule (1-100)")
	return cmd
}

// printSchedules prints the schedule table and, for next > 1, each
// schedule's upcoming fire times.
func (a *app) printSchedules(list []*troika.ScheduleInfo, states map[troika.JobID]troika.JobState, next int) error {
	tw := table(a.stdout)
	fmt.Fprintln(tw, "ID\tSPEC\tTIMEZONE\tSTATE\tNEXT FIRE\tLAST FIRE\tLAST OUTCOME\tJOB")
	for _, s := range list {
		state := "active"
		switch {
		case s.Paused:
			state = "paused"
		case s.NextFireAt.IsZero():
			state = "ended"
		}
		tz := s.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		outcome, job := "-", "-"
		if n := len(s.Fires); n > 0 {
			f := s.Fires[n-1]
			outcome = string(f.Outcome)
			if f.Missed > 0 {
				outcome += fmt.Sprintf(" (%d)", f.Missed)
			}
			if !f.JobID.IsZero() {
				job = f.JobID.String()
				if st, ok := states[f.JobID]; ok {
					job += " " + string(st)
				}
			}
		}
		nextFire := "-"
		if len(s.NextFireTimes) > 0 {
			nextFire = zoneTime(s.NextFireTimes[0], s.TimeZone)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Spec, tz, state, nextFire, zoneTime(s.LastFireAt, s.TimeZone), outcome, job)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next <= 1 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	for _, s := range list {
		times := make([]string, 0, len(s.NextFireTimes))
		for _, t := range s.NextFireTimes {
			times = append(times, zoneTime(t, s.TimeZone))
		}
		if len(times) == 0 {
			times = append(times, "none")
		}
		fmt.Fprintf(a.stdout, "%s: next %s\n", s.ID, strings.Join(times, ", "))
	}
	return nil
}

func (a *app) scheduleAddCmd() *cobra.Command {
	var (
		tz, misfire, overlap, queue string
		jitter, timeout             cli.DurationValue
		start, end                  cli.TimeValue
		catchUp, priority, attempts int
		paused                      bool
		tags                        []string
		meta                        cli.MetaValue
		next                        int
	)
	cmd := &cobra.Command{
		Use:   "add ID SPEC KIND [ARGS_JSON]",
		Short: "Create or update a schedule",
		Long: `Create or update (by ID) a schedule that enqueues a job of KIND with JSON
arguments (default {}) at each fire instant of SPEC: 5 cron fields
("minute hour day-of-month month day-of-week"), 6 with seconds first, a
descriptor (@hourly, @daily, @weekly, @monthly, @yearly) or "@every 90s".
Adding an unchanged definition changes nothing. Prints created, updated or
unchanged and the next fire times.`,
		Example: `  troika schedule add nightly-report '30 2 * * *' report.build '{"kind":"daily"}' --tz Europe/Berlin
  troika schedule add heartbeat '@every 90s' ping --queue monitoring --overlap skip_if_running
  troika schedule add digest '0 9 * * MON-FRI' digest.send --misfire catch_up --catch-up 3 --jitter 2m`,
		Args: args(cobra.RangeArgs(3, 4)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			raw := json.RawMessage("{}")
			if len(args) == 4 {
				var probe any
				if err := json.Unmarshal([]byte(args[3]), &probe); err != nil {
					return cli.Failf("invalid args: not valid JSON: %v", err)
				}
				raw = json.RawMessage(args[3])
			}
			if next < 0 || next > 100 {
				return cli.Usagef("--next must be 0 to 100, got %d", next)
			}
			f := cmd.Flags()
			s := troika.Schedule{
				ID: args[0], Spec: args[1], TimeZone: tz, Jitter: jitter.D, Start: start.T, End: end.T,
				Misfire: troika.MisfirePolicy(misfire), CatchUpLimit: catchUp, Overlap: troika.OverlapPolicy(overlap),
				Paused: paused, Args: troika.RawArgs{KindName: args[2], JSON: raw},
			}
			if f.Changed("queue") {
				s.Options = append(s.Options, troika.Queue(queue))
			}
			if f.Changed("priority") {
				s.Options = append(s.Options, troika.Priority(priority))
			}
			if f.Changed("max-attempts") {
				s.Options = append(s.Options, troika.MaxAttempts(attempts))
			}
			if f.Changed("timeout") {
				s.Options = append(s.Options, troika.Timeout(timeout.D))
			}
			if len(meta.M) > 0 {
				s.Options = append(s.Options, troika.Metadata(meta.M))
			}
			if len(tags) > 0 {
				s.Options = append(s.Options, troika.Tags(tags...))
			}
			var res *troika.UpsertScheduleResult
			var info *troika.ScheduleInfo
			err := a.withClient(cmd.Context(), false, func(c *troika.Client) error {
				var err error
				if res, err = c.UpsertSchedule(cmd.Context(), s); err != nil {
					return err
				}
				info = res.Schedule
				if next > 0 && next != len(info.NextFireTimes) {
					list, err := c.ListSchedules(cmd.Context(), troika.ScheduleListParams{Next: next})
					if err != nil {
						return err
					}
					for _, l := range list {
						if l.ID == s.ID {
							info = l
						}
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			result := "unchanged"
			switch {
			case res.Created:
				result = "created"
			case res.Changed:
				result = "updated"
			}
			if a.json {
				return a.printJSON(scheduleAddOut{Result: result, Schedule: scheduleView(info)})
			}
			fmt.Fprintf(a.stdout, "%s schedule %s\n", result, info.ID)
			for i, t := range info.NextFireTimes {
				if i == next {
					break
				}
				fmt.Fprintf(a.stdout, "  next %s\n", zoneTime(t, info.TimeZone))
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&tz, "tz", "", "IANA time zone the spec is read in (default UTC)")
	f.Var(&jitter, "jitter", "delay each job by a deterministic amount below this (e.g. 30s)")
	f.Var(&start, "start", "no fire instants before this time")
	f.Var(&end, "end", "no fire instants after this time")
	f.StringVar(&misfire, "misfire", "", "misfire policy: skip, run_once (default) or catch_up")
	f.IntVar(&catchUp, "catch-up", 0, "catch_up: the most missed instants to fire (default 10)")
	f.StringVar(&overlap, "overlap", "", "overlap policy: allow (default), skip_if_running or queue_one")
	f.BoolVar(&paused, "paused", false, "create or set the schedule paused")
	f.StringVar(&queue, "queue", troika.DefaultQueue, "queue of the jobs")
	f.IntVar(&priority, "priority", troika.DefaultPriority, "priority of the jobs, 1 (most urgent) to 4")
	f.IntVar(&attempts, "max-attempts", troika.DefaultMaxAttempts, "attempts of each job before it is dead")
	f.Var(&timeout, "timeout", "how long one attempt may run (default: the worker's)")
	f.StringArrayVar(&tags, "tag", nil, "tag the jobs (repeatable)")
	f.Var(&meta, "meta", "job metadata key=value (repeatable)")
	f.IntVar(&next, "next", 3, "how many upcoming fire times to print (0-100)")
	return cmd
}

func (a *app) scheduleRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove ID",
		Short:   "Delete a schedule (jobs it already enqueued stay)",
		Example: `  troika schedule remove nightly-report`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				return c.DeleteSchedule(cmd.Context(), args[0])
			})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]string{"id": args[0], "result": "deleted"})
			}
			fmt.Fprintf(a.stdout, "deleted schedule %s\n", args[0])
			return nil
		}),
	}
}

func (a *app) schedulePauseCmd(name string, pause bool) *cobra.Command {
	short, long := "Pause a schedule (it fires nothing until resumed)", "paused"
	if !pause {
		short, long = "Resume a paused schedule (instants missed while paused are not fired)", "resumed"
	}
	return &cobra.Command{
		Use:     name + " ID",
		Short:   short,
		Example: "  troika schedule " + name + " nightly-report",
		Args:    args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			var info *troika.ScheduleInfo
			err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				f := c.ResumeSchedule
				if pause {
					f = c.PauseSchedule
				}
				info, err = f(cmd.Context(), args[0])
				return err
			})
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(scheduleView(info))
			}
			fmt.Fprintf(a.stdout, "%s schedule %s\n", long, info.ID)
			if !pause && len(info.NextFireTimes) > 0 {
				fmt.Fprintf(a.stdout, "  next %s\n", zoneTime(info.NextFireTimes[0], info.TimeZone))
			}
			return nil
		}),
	}
}

func (a *app) scheduleTriggerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "trigger ID",
		Short: "Enqueue a schedule's job now, outside its timetable",
		Long: `Enqueue the schedule's job once, now (whatever its overlap policy and paused
state). The timetable is unchanged. Prints the job's id and state.`,
		Example: `  troika schedule trigger nightly-report`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			var res *troika.EnqueueResult
			err := a.withClient(cmd.Context(), true, func(c *troika.Client) error {
				var err error
				res, err = c.TriggerSchedule(cmd.Context(), args[0])
				return err
			})
			if err != nil {
				return err
			}
			out := triggerOut{ID: res.ID.String(), State: string(res.State)}
			if a.json {
				return a.printJSON(out)
			}
			tw := table(a.stdout)
			fmt.Fprintln(tw, "ID\tSTATE")
			fmt.Fprintf(tw, "%s\t%s\n", out.ID, out.State)
			return tw.Flush()
		}),
	}
}
