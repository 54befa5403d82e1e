// Package sdkhook lets other packages of this module reach behaviour of the
// root package's *troika.Client that is not part of its public API. The
// root package sets the hooks in an init function; a hook is nil only in a
// program that does not link the root package.
//
// Imports: nothing. The root package and server import it.
package sdkhook

// KickScheduler wakes the schedule firer of c, a *troika.Client, so that a
// schedule changed outside the Client's own methods (the server writes
// schedules through the engine) fires at its next instant instead of after
// the firer's next poll. It does nothing for a Client that runs no
// scheduler, or for a value that is not a *troika.Client. It never blocks.
var KickScheduler func(c any)
