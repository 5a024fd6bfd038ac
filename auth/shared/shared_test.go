package shared

import (
	"context"
	"testing"
	"time"
)

func TestContextOutlivesTheCallerButKeepsItsDeadline(t *testing.T) {
	dl := time.Now().Add(time.Hour)
	caller, cancelCaller := context.WithDeadline(context.Background(), dl)
	ctx, cancel := Context(caller)
	defer cancel()
	cancelCaller()
	if ctx.Err() != nil {
		t.Fatalf("shared context ended with its caller: %v", ctx.Err())
	}
	if got, ok := ctx.Deadline(); !ok || !got.Equal(dl) {
		t.Errorf("deadline %v %v, want the caller's %v", got, ok, dl)
	}
	cancel()
	if ctx.Err() == nil {
		t.Error("cancel did not end it")
	}
	noDeadline, cancel2 := Context(context.Background())
	defer cancel2()
	if _, ok := noDeadline.Deadline(); ok {
		t.Error("a deadline appeared")
	}
}
