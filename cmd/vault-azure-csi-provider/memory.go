package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// Memory release: after a burst of Mounts (a node full of pods starting)
// the Go runtime keeps the heap it grew, and returns it to the system only
// slowly. Every memoryCheckEvery the provider looks at how much heap is
// free or garbage; past memoryReleaseAt it collects twice and returns it to
// the system at once (debug.FreeOSMemory), so a DaemonSet pod's RSS comes back
// close to idle soon after a storm. At steady state, when little is freed,
// nothing happens.
const (
	memoryCheckEvery = 10 * time.Second
	memoryReleaseAt  = 4 << 20
)

// releaseMemoryAfterBursts runs until ctx ends.
func releaseMemoryAfterBursts(ctx context.Context) {
	wait.UntilWithContext(ctx, func(context.Context) {
		if r := reclaimable(); r >= memoryReleaseAt {
			// The first collection moves sync.Pool contents (gRPC's and
			// net/http's buffers) to their victim caches, the second frees
			// them; then the free pages go back to the system.
			runtime.GC()
			debug.FreeOSMemory()
			klog.V(4).InfoS("returned free memory to the system", "reclaimableBytes", r)
		}
	}, memoryCheckEvery)
}

// reclaimable estimates the heap bytes that a collection and a release
// would return: free spans not yet released, plus objects allocated since
// the last collection beyond the live heap it found.
func reclaimable() uint64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	for _, v := range s {
		if v.Value.Kind() != metrics.KindUint64 {
			return 0
		}
	}
	free, objects, live := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
	if objects > live {
		free += objects - live
	}
	return free
}
