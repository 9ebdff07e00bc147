package agentcostbudgetextension

import (
	"sync/atomic"
	"time"
)

// coarseResolution is the tick of the clock that Check reads. Reading the
// system clock costs about 50 ns on the reference machine, a quarter of the
// in-process check budget; a decision made up to 10 ms late at a window
// boundary is harmless (accrual still uses the exact time, and windows
// never move back when a clock lags).
const coarseResolution = 10 * time.Millisecond

// coarseClock is a wall clock updated by one goroutine every resolution.
type coarseClock struct {
	ns   atomic.Int64
	done chan struct{}
	quit chan struct{}
}

func startCoarseClock(resolution time.Duration) *coarseClock {
	c := &coarseClock{done: make(chan struct{}), quit: make(chan struct{})}
	c.ns.Store(time.Now().UnixNano())
	go func() {
		defer close(c.done)
		t := time.NewTicker(resolution)
		defer t.Stop()
		for {
			select {
			case <-c.quit:
				return
			case now := <-t.C:
				c.ns.Store(now.UnixNano())
			}
		}
	}()
	return c
}

// Now returns the time of the last tick.
func (c *coarseClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *coarseClock) stop() {
	close(c.quit)
	<-c.done
}
