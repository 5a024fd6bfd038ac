// Package guard keeps a panic in the work of one Mount — its gRPC call or
// any goroutine it starts (logins, shared reads, KV-version lookups, the
// issue of a dynamic secret) — from taking down the provider that serves
// every pod of the node: the panic becomes that work's error, logged with
// its stack, and the provider keeps serving.
package guard

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"k8s.io/klog/v2"
)

// PanicError is work that panicked.
type PanicError struct {
	Where string // what was running
	What  string // the panic, described without its value (see Describe)
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("the provider failed internally in %s (%s): this is a bug, logged with a stack trace; the provider keeps serving and the kubelet will retry", e.Where, e.What)
}

// Describe describes a panic value: the message of a runtime error (index
// out of range, nil dereference), which holds no data; otherwise only its
// type, since a panic value may hold anything, a token or a secret.
func Describe(r any) string {
	if e, ok := r.(runtime.Error); ok {
		return "runtime error: " + e.Error()
	}
	return fmt.Sprintf("a panic with a value of type %T", r)
}

// Recover, deferred, turns a panic into *err: a *PanicError, logged with
// the stack (code locations and raw argument words, not strings).
func Recover(where string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	pe := &PanicError{Where: where, What: Describe(r)}
	klog.ErrorS(nil, "recovered from a panic; the provider keeps serving", "in", where, "panic", pe.What, "stack", string(debug.Stack()))
	if err != nil {
		*err = pe
	}
}

// Go runs fn in a goroutine whose panic is recovered and logged.
func Go(where string, fn func()) {
	go func() {
		defer Recover(where, nil)
		fn()
	}()
}

// Call runs fn, returning its panic as an error.
func Call[T any](where string, fn func() (T, error)) (v T, err error) {
	defer Recover(where, &err)
	return fn()
}
