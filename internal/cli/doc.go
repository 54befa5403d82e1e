// Package cli holds the helpers of the troika command that are worth testing
// on their own: exit codes and one-line error messages, parsing of flag
// values (metadata pairs, durations with days, times), the JSON views of jobs
// and queues that --json prints (the wire names of DESIGN §5), terminal
// detection and a light progress bar.
//
// Imports: the root package (as a user would), pflag, x/sys.
package cli
