package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
)

// shutdownContext is cancelled by the first SIGTERM or SIGINT, which starts
// the graceful stop (in-flight Mounts finish within --shutdown-grace). A
// second signal exits at once: an operator who asks twice wants it gone.
func shutdownContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		klog.InfoS("signal received: stopping gracefully; a second signal stops at once", "signal", s.String())
		cancel()
		if s, ok = <-sigs; !ok {
			return
		}
		klog.InfoS("second signal received: exiting now, without waiting for in-flight mounts", "signal", s.String())
		klog.Flush()
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}
