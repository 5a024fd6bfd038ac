package provider

import (
	"context"
	"fmt"
)

// limiter is a counting semaphore: the provider's bounds the Vault reads in
// flight across all Mounts, so a storm of pod starts cannot flood Vault; a
// Mount's bounds the reads that Mount starts.
type limiter struct {
	slots chan struct{}
	what  string // what is bounded, for errors
}

func newLimiter(n int, what string) *limiter {
	return &limiter{slots: make(chan struct{}, n), what: what}
}

// acquire takes a slot, waiting at most until ctx ends.
func (l *limiter) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return l.waitError(err)
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return l.waitError(ctx.Err())
	}
}

// release returns a slot taken by acquire.
func (l *limiter) release() { <-l.slots }

func (l *limiter) waitError(err error) error {
	return fmt.Errorf("waiting for one of %s (%d): %w", l.what, cap(l.slots), err)
}
