package troika

import (
	"context"
	"errors"
)

// SchedulerPass runs one pass of c's scheduler synchronously (it may run
// alongside the background loop; the store's compare-and-set keeps them
// from firing an instant twice).
func SchedulerPass(c *Client) error {
	if c.impl.sched == nil {
		return errors.New("the client runs no scheduler")
	}
	_, err := c.impl.sched.Pass(context.Background())
	return err
}
