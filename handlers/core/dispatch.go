package core

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Outbox is what Dispatch needs of one durable outbox (webhook
// deliveries, app deliveries, deploy notifications): rows claimed with a
// lease in SQL, so a dead process's attempts are retried.
type Outbox[T any] struct {
	Name    string // what is claimed, for the log: "webhook deliveries"
	Workers int
	// Claim leases up to n rows due at now.
	Claim func(ctx context.Context, now time.Time, n int) ([]T, error)
	// NextDue is when the next row not yet claimable falls due.
	NextDue func(ctx context.Context, now time.Time) (due time.Time, ok bool, err error)
	// Deliver makes one attempt and records it; it may return the next
	// row it claimed while recording (more true), which the same worker
	// goes on with.
	Deliver func(ctx context.Context, row T) (next T, more bool)
	// Sweep frees the leases of attempts that outlived them; it runs
	// once a minute and logs what it did.
	Sweep func(ctx context.Context)
	// Wake is signalled when rows may have become due; Woken is called
	// when a worker finishes (it signals Wake, so a freed slot is used).
	Wake  <-chan struct{}
	Woken func()
	// Also, when set, is run by the dispatcher for each value received
	// on AlsoCh (work that must not race the claims, such as planning).
	AlsoCh <-chan int64
	Also   func(ctx context.Context, v int64)
}

const (
	// dispatchIdle is the longest a dispatcher sleeps with nothing due
	// that it knows of.
	dispatchIdle = 5 * time.Second
	// dispatchSweep is how often expired leases are freed.
	dispatchSweep = time.Minute
)

// Dispatch runs o's worker pool until ctx ends: one dispatcher claims
// due rows up to the number of free workers and sleeps until woken, a
// worker finishes, or the next row falls due. In-flight attempts are
// abandoned at shutdown (their leases are given back by Deliver without
// counting them); Dispatch returns when every worker has.
func Dispatch[T any](ctx context.Context, log *slog.Logger, o Outbox[T]) {
	sem := make(chan struct{}, o.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastSweep time.Time
	for {
		if ctx.Err() != nil {
			return
		}
		if time.Since(lastSweep) >= dispatchSweep {
			lastSweep = time.Now()
			o.Sweep(ctx)
		}
		wait := dispatchIdle
		if free := o.Workers - len(sem); free > 0 {
			now := time.Now()
			claimed, err := o.Claim(ctx, now, free)
			if err != nil && ctx.Err() == nil {
				log.Warn("claim "+o.Name, "err", err)
				wait = time.Second
			}
			for _, row := range claimed {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-sem
						o.Woken()
					}()
					for more := true; more; {
						row, more = o.Deliver(ctx, row)
					}
				})
			}
			if err == nil && len(claimed) < free {
				// Everything claimable is taken: sleep until the next
				// row is due (or a worker finishes and frees a slot).
				if due, ok, err := o.NextDue(ctx, now); err == nil && ok {
					wait = min(wait, max(time.Until(due), time.Millisecond))
				}
			}
		}
		timer.Reset(wait) // Go 1.23+ timers: Reset never delivers a stale tick
		select {
		case <-ctx.Done():
			return
		case <-o.Wake:
		case v := <-o.AlsoCh: // a nil channel never receives
			o.Also(ctx, v)
		case <-timer.C:
		}
	}
}
