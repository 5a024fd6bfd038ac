// Package shared gives work that several callers wait for — a login, a
// read, a KV mount lookup, a dynamic secret's issue — its own context.
package shared

import "context"

// Context returns ctx without its cancellation but with its deadline, and
// the function that ends it. Work shared by several callers must not fail
// them all when the caller that started it gives up, yet it must stop in
// time and explain itself within the deadline.
func Context(ctx context.Context) (context.Context, context.CancelFunc) {
	detached := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(detached, dl)
	}
	return context.WithCancel(detached)
}
