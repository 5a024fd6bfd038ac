package provider

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	tests := []struct {
		name    string
		slots   int
		taken   int
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"free slot", 2, 1, func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, nil},
		{"full until the deadline", 2, 2, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled context fails even with a free slot", 2, 0, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.slots, "test reads (--vault-max-concurrency)")
			for range tc.taken {
				if err := l.acquire(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			err := l.acquire(ctx)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("acquire = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "test reads (--vault-max-concurrency) (2)") {
				t.Errorf("error %q does not say what it waited for", err)
			}
			want := tc.taken
			if err == nil {
				want++
			}
			if l.inUse() != want {
				t.Errorf("%d slots in use, want %d", l.inUse(), want)
			}
		})
	}
}

func TestLimiterWaitsForRelease(t *testing.T) {
	l := newLimiter(1, "test reads")
	if err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- l.acquire(context.Background()) }()
	select {
	case err := <-got:
		t.Fatalf("acquired a slot while none was free (err %v)", err)
	case <-time.After(30 * time.Millisecond):
	}
	l.release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("release did not let the waiter in")
	}
}

// inUse returns the number of slots taken.
func (l *limiter) inUse() int { return len(l.slots) }
