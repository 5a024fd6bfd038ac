// Package pods tells whether a pod that mounted through this provider still
// runs on the node, without Mounts and without Kubernetes API access: it asks
// the kubelet's pod-resources API (List, on the kubelet's local socket
// <kubelet root>/pod-resources/kubelet.sock), which names the node's active
// pods — namespace, name, containers and their devices, nothing else.
//
// The driver calls Mount once per pod when its rotation is off (its
// default) and at most once per --rotation-poll-interval when it is on, so
// the time since a pod's last Mount says nothing about whether it still
// runs: what the provider keeps for a pod (its dynamic secrets) lives until
// this package says the pod is gone.
package pods

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// State is what is known of a pod.
type State int

const (
	// Unknown: no recent trustworthy list of the node's pods (no socket,
	// the kubelet restarting or not yet synced).
	Unknown State = iota
	// Alive: the kubelet lists the pod, or stopped listing it less than
	// the grace period ago.
	Alive
	// Gone: the kubelet has not listed the pod in any list over at least
	// the grace period, in two lists or more.
	Gone
)

func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Gone:
		return "gone"
	}
	return "unknown"
}

// Name is a pod's namespace and name, as the kubelet lists it.
type Name struct {
	Namespace, Name string
}

// Lister lists the active pods of the node.
type Lister interface {
	List(ctx context.Context) ([]Name, error)
}

// Config tunes a Tracker.
type Config struct {
	// Interval between lists (default 10s).
	Interval time.Duration
	// GoneAfter: a pod absent from every list for this long, and from two
	// lists at least, is gone (default 30s). It covers a kubelet that lists
	// a pod late, never a running one: the kubelet lists a pod while any
	// of its containers may run, including during its termination grace
	// period.
	GoneAfter time.Duration
	// Self, if set, is the provider's own pod: a list without it is not
	// trusted (a kubelet that has just restarted lists no pod, or not all).
	Self Name
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Tracker keeps the kubelet's recent lists of the node's pods. It is safe
// for concurrent use.
type Tracker struct {
	cfg    Config
	lister Lister

	mu       sync.Mutex
	lastSeen map[Name]time.Time // time of the latest trusted list that held the pod
	lists    []time.Time        // times of the recent trusted lists, oldest first
	failing  bool               // the last list failed or was not trusted (logged once)
}

// maxLists bounds the list times kept: enough to tell two lists over the
// grace period apart at any interval.
const maxLists = 64

// NewTracker returns a Tracker that lists the pods with lister.
func NewTracker(cfg Config, lister Lister) *Tracker {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.GoneAfter <= 0 {
		cfg.GoneAfter = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tracker{cfg: cfg, lister: lister, lastSeen: map[Name]time.Time{}}
}

// Run lists the pods every interval until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) { _ = t.Poll(ctx) }, t.cfg.Interval)
}

// Poll lists the node's pods once.
func (t *Tracker) Poll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(t.cfg.Interval, 5*time.Second))
	defer cancel()
	names, err := t.lister.List(ctx)
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && t.cfg.Self != (Name{}) && !contains(names, t.cfg.Self) {
		err = errNotSynced
	}
	if err != nil {
		if !t.failing {
			klog.InfoS("cannot tell which pods run on this node: dynamic secrets are kept, not revoked, until the kubelet answers again",
				"err", err)
		}
		t.failing = true
		return err
	}
	if t.failing {
		klog.InfoS("listing this node's pods again")
		t.failing = false
	}
	for _, n := range names {
		t.lastSeen[n] = now
	}
	t.lists = append(t.lists, now)
	if len(t.lists) > maxLists {
		t.lists = t.lists[len(t.lists)-maxLists:]
	}
	// Forget pods unlisted for long: they were gone long ago.
	for n, seen := range t.lastSeen {
		if now.Sub(seen) > 10*t.cfg.GoneAfter+time.Hour {
			delete(t.lastSeen, n)
		}
	}
	return nil
}

type listError string

func (e listError) Error() string { return string(e) }

const errNotSynced = listError("the kubelet's list lacks the provider's own pod (kubelet restarting or not yet synced): not trusted")

func contains(names []Name, n Name) bool {
	for _, m := range names {
		if m == n {
			return true
		}
	}
	return false
}

// State tells whether pod, which mounted at mounted, still runs. A pod
// that mounted after the last list is alive (it runs: it just mounted).
func (t *Tracker) State(pod Name, mounted time.Time) State {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	if len(t.lists) == 0 {
		return Unknown
	}
	last := t.lists[len(t.lists)-1]
	if t.failing || now.Sub(last) > 3*t.cfg.Interval+t.cfg.GoneAfter {
		return Unknown // no recent trustworthy list
	}
	from := mounted
	if seen, ok := t.lastSeen[pod]; ok && seen.After(from) {
		from = seen
	}
	if seen, ok := t.lastSeen[pod]; ok && seen.Equal(last) {
		return Alive
	}
	// Absent from the lists after from: gone once they span the grace
	// period and are two or more.
	n := 0
	for _, l := range t.lists {
		if l.After(from) {
			n++
		}
	}
	if n >= 2 && last.Sub(from) >= t.cfg.GoneAfter {
		return Gone
	}
	return Alive
}
