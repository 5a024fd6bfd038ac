package provider

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// waitFor polls cond every millisecond for at most 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waiters returns how many callers wait for key's flight (0: none running).
func (g *flightGroup) waiters(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.flights[key]; ok {
		return f.waiters
	}
	return 0
}

// gatedRead is a read that blocks until release is closed (or its context
// ends) and counts its calls.
type gatedRead struct {
	calls    atomic.Int32
	release  chan struct{}
	err      error
	canceled atomic.Bool
}

func (g *gatedRead) fn(ctx context.Context) (*vault.Secret, error) {
	n := g.calls.Add(1)
	select {
	case <-g.release:
	case <-ctx.Done():
		g.canceled.Store(true)
		return nil, ctx.Err()
	}
	if g.err != nil {
		return nil, g.err
	}
	return &vault.Secret{Data: map[string]any{"call": n}}, nil
}

type flightResult struct {
	s      *vault.Secret
	shared bool
	err    error
}

// startCallers starts n callers of g.do for key "k", one after another, so
// caller 0 is the one that starts the read.
func startCallers(t *testing.T, g *flightGroup, gr *gatedRead, n int) (chan flightResult, []context.CancelFunc) {
	t.Helper()
	results := make(chan flightResult, n)
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		go func() {
			s, shared, err := g.do(ctx, "k", gr.fn)
			results <- flightResult{s, shared, err}
		}()
		waitFor(t, "the caller to join", func() bool { return g.waiters("k") == i+1 })
	}
	t.Cleanup(func() {
		for _, c := range cancels {
			c()
		}
	})
	return results, cancels
}

func TestFlightGroup(t *testing.T) {
	errVault := errors.New("vault said no")
	tests := []struct {
		name     string
		callers  int
		giveUp   int // callers whose context is cancelled before the read ends
		err      error
		wantCanc bool
	}{
		{"one caller", 1, 0, nil, false},
		{"many callers share one read", 20, 0, nil, false},
		{"an error is shared too", 5, 0, errVault, false},
		{"callers giving up leave the read running for the others", 5, 3, nil, false},
		{"the last caller giving up cancels the read", 4, 4, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newFlightGroup()
			gr := &gatedRead{release: make(chan struct{}), err: tc.err}
			results, cancels := startCallers(t, g, gr, tc.callers)
			for i := range tc.giveUp {
				cancels[i]()
			}
			if tc.giveUp == tc.callers {
				waitFor(t, "the read to be cancelled", gr.canceled.Load)
			} else {
				waitFor(t, "the leavers to leave", func() bool { return g.waiters("k") == tc.callers-tc.giveUp })
				close(gr.release)
			}
			var shared, ok, canceled int
			for range tc.callers {
				r := <-results
				switch {
				case errors.Is(r.err, context.Canceled):
					canceled++
				case tc.err != nil && errors.Is(r.err, tc.err), r.err == nil && r.s.Data["call"] == int32(1):
					ok++
				default:
					t.Errorf("unexpected result %+v", r)
				}
				if r.shared {
					shared++
				}
			}
			if canceled != tc.giveUp || ok != tc.callers-tc.giveUp || shared != tc.callers-1 {
				t.Errorf("%d callers got the result, %d were cancelled, %d shared; want %d, %d and %d",
					ok, canceled, shared, tc.callers-tc.giveUp, tc.giveUp, tc.callers-1)
			}
			if gr.calls.Load() != 1 || gr.canceled.Load() != tc.wantCanc {
				t.Errorf("read ran %d times, cancelled %v; want once, cancelled %v", gr.calls.Load(), gr.canceled.Load(), tc.wantCanc)
			}
			waitFor(t, "the flight to end", func() bool { return g.inFlight() == 0 })
		})
	}
}

func TestFlightGroupStartsAfreshAfterAFlightEnds(t *testing.T) {
	g := newFlightGroup()
	var calls atomic.Int32
	fn := func(context.Context) (*vault.Secret, error) {
		return &vault.Secret{Data: map[string]any{"call": calls.Add(1)}}, nil
	}
	for want := int32(1); want <= 3; want++ {
		s, shared, err := g.do(context.Background(), "k", fn)
		if err != nil || shared || s.Data["call"] != want {
			t.Fatalf("call %d: got %v shared=%v err=%v", want, s.Data, shared, err)
		}
	}
	// Different keys never share.
	var wg sync.WaitGroup
	release := make(chan struct{})
	var distinct atomic.Int32
	for _, k := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = g.do(context.Background(), k, func(context.Context) (*vault.Secret, error) {
				distinct.Add(1)
				<-release
				return &vault.Secret{}, nil
			})
		}()
	}
	waitFor(t, "three flights", func() bool { return g.inFlight() == 3 })
	close(release)
	wg.Wait()
	if distinct.Load() != 3 {
		t.Errorf("%d reads for 3 keys", distinct.Load())
	}
}

// do returns the result of fn for key, sharing one call of fn among
// concurrent callers. shared reports that this caller joined a call that
// another caller started.
func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (*vault.Secret, error)) (s *vault.Secret, shared bool, err error) {
	f, shared := g.join(ctx, key, fn)
	s, err = g.wait(ctx, key, f)
	return s, shared, err
}

// inFlight returns the number of shared calls running.
func (g *flightGroup) inFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.flights)
}
