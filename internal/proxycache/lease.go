package proxycache

import (
	"context"
	"time"
)

// Fetch leases coordinate replicas that share the database (best effort):
// the replica holding an item's lease fetches it; the others wait until the
// item is stored (or the lease ends, when they try to take it themselves).
// A holder renews its lease while it fetches; the lease of a holder that
// died ends after leaseTTL.
const (
	leaseTTL   = 30 * time.Second
	leaseRenew = 10 * time.Second
	leasePoll  = 100 * time.Millisecond
)

// lease takes the fetch lease on key, or waits until ready reports the item
// stored by another replica (already true, nothing to release; ready is
// asked again once the lease is held, for a holder that finished between
// two polls). A database failure does not stop the fetch: the lease is only
// an optimization.
func (s *Service) lease(ctx context.Context, key string, ready func(context.Context) bool) (release func(), already bool, err error) {
	for {
		ok, err := s.meta.AcquireProxyFetch(ctx, key, leaseTTL)
		if err != nil {
			s.log.WarnContext(ctx, "proxy cache: fetch lease unavailable, fetching anyway", "key", key, "err", err)
			return func() {}, false, nil
		}
		if ok && ready(ctx) {
			// Stored by a holder that released the lease meanwhile.
			s.release(ctx, key)
			return nil, true, nil
		}
		if ok {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				t := time.NewTicker(leaseRenew)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						if err := s.meta.RenewProxyFetch(ctx, key, leaseTTL); err != nil {
							s.log.WarnContext(ctx, "proxy cache: renewing a fetch lease", "key", key, "err", err)
						}
					}
				}
			}()
			return func() {
				close(stop)
				<-done
				s.release(ctx, key)
			}, false, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(leasePoll):
		}
		if ready(ctx) {
			return nil, true, nil
		}
	}
}

func (s *Service) release(ctx context.Context, key string) {
	if err := s.meta.ReleaseProxyFetch(context.WithoutCancel(ctx), key); err != nil {
		s.log.WarnContext(ctx, "proxy cache: releasing a fetch lease", "key", key, "err", err)
	}
}
