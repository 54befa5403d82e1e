// Package cron parses schedule specs and computes their fire instants in a
// time zone, with Troika's rules for daylight-saving transitions.
//
// A spec is one of:
//
//   - five cron fields, "minute hour day-of-month month day-of-week"
//     ("*/15 9-17 * * MON-FRI"), or six with seconds first
//     ("30 */5 * * * *");
//   - a descriptor: @yearly (@annually), @monthly, @weekly, @daily
//     (@midnight), @hourly;
//   - an interval, "@every <duration>" with a Go duration of at least 1s
//     ("@every 90s", "@every 1h30m").
//
// Cron specs are evaluated on the wall clock of the schedule's IANA time
// zone. Daylight-saving rules (see Schedule.Next): a wall time that falls in
// a spring-forward gap fires once, at the first valid instant after the gap
// (the transition itself); a wall time that occurs twice at a fall-back
// fires once, at its first occurrence. Intervals are absolute durations from
// an anchor instant and do not see time zones at all.
//
// Parsing uses github.com/robfig/cron/v3 for the field grammar (ranges,
// steps, lists, month and weekday names) behind a small interface of our
// own: field-by-field error messages, no time-zone prefixes in the spec,
// rejection of specs that never fire, and our DST mapping. Nothing here
// panics on input; Parse is fuzzed.
//
// Imports: the standard library (with time/tzdata embedded, so zones work
// on hosts without a zoneinfo database) and robfig/cron only.
package cron
