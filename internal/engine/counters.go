package engine

import "sync/atomic"

// Counters are the maintenance services' cumulative counters. The fields
// are safe to read and add to from any goroutine.
type Counters struct {
	LeasesRescued    atomic.Int64 // expired leases failed by the rescuer (attempt spent)
	Promoted         atomic.Int64 // waiting jobs moved to available by the promoter
	RetentionDeleted atomic.Int64 // finished jobs deleted by retention
	EventsTrimmed    atomic.Int64 // topic events deleted by topic retention (topic_retention.go)
}
