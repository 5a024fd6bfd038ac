package background

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestHungAddressTakesHalfTheWorkers: jobs for a Vault that never answers
// hold half the workers at most; jobs for another address all run
// meanwhile.
func TestHungAddressTakesHalfTheWorkers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := New(ctx, Options{Workers: 4, Timeout: time.Hour})
	hung := make(chan struct{})
	var hungStarted atomic.Int32
	for i := range 50 {
		p.Submit("https://hung", fmt.Sprint("h", i), func(ctx context.Context) {
			hungStarted.Add(1)
			select {
			case <-hung:
			case <-ctx.Done():
			}
		})
	}
	done := make(chan struct{}, 100)
	for i := range 100 {
		p.Submit("https://fast", fmt.Sprint("f", i), func(context.Context) { done <- struct{}{} })
	}
	deadline := time.After(10 * time.Second)
	for range 100 {
		select {
		case <-done:
		case <-deadline:
			t.Fatal("the fast address's jobs did not all run while the hung one held a worker")
		}
	}
	if n := hungStarted.Load(); n != 2 {
		t.Errorf("%d jobs of the hung address started, want 2 (half the workers)", n)
	}
	close(hung)
}

func TestDedupeTimeoutPanicAndBound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := New(ctx, Options{Workers: 1, Queue: 3, Timeout: 500 * time.Millisecond})
	block, started := make(chan struct{}), make(chan struct{})
	p.Submit("a", "first", func(ctx context.Context) { close(started); <-ctx.Done(); close(block) }) // ends at the timeout
	<-started
	if !p.Submit("a", "x", func(context.Context) { panic("secret value") }) {
		t.Fatal("x refused")
	}
	if p.Submit("a", "x", func(context.Context) {}) {
		t.Error("a duplicate id was queued")
	}
	ran := make(chan struct{})
	p.Submit("b", "y", func(context.Context) { close(ran) })
	p.Submit("c", "z", func(context.Context) {})
	if p.Submit("d", "w", func(context.Context) {}) {
		t.Error("queued beyond the bound of 3 waiting jobs")
	}
	select {
	case <-block:
	case <-time.After(5 * time.Second):
		t.Fatal("a job's context did not end at the timeout")
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a job after a panicking one did not run")
	}
}
