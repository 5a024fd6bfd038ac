package share

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHungAddressHoldsItsShareOnly: 64 callers of a Vault that never
// answers hold its share; a caller of another address and namespace gets
// a slot at once.
func TestHungAddressHoldsItsShareOnly(t *testing.T) {
	s := New(Limits{Total: 32})
	hung := make(chan struct{})
	var wg sync.WaitGroup
	var held atomic.Int32
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			release, err := s.Acquire(ctx, "https://hung", fmt.Sprint("attacker-", i%4))
			if err != nil {
				return
			}
			held.Add(1)
			<-hung
			release()
		}()
	}
	for held.Load() < 16 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	release, err := s.Acquire(ctx, "https://fast", "victim")
	if err != nil {
		t.Fatalf("the victim waited behind a hung address: %v (in use %d)", err, s.InUse())
	}
	release()
	if n := s.InUse(); n != 16 {
		t.Errorf("%d slots in use by the hung address, want its share of 16", n)
	}
	close(hung)
	wg.Wait()
	if n := s.InUse(); n != 0 || len(s.byAddr) != 0 || len(s.byNS) != 0 {
		t.Errorf("after all released: %d in use, %d addresses, %d namespaces kept", n, len(s.byAddr), len(s.byNS))
	}
}

// TestNamespaceShare: one namespace over many addresses holds its share
// only.
func TestNamespaceShare(t *testing.T) {
	s := New(Limits{Total: 8})
	var releases []func()
	for i := range 4 {
		r, err := s.Acquire(context.Background(), fmt.Sprint("https://a", i), "attacker")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := s.Acquire(ctx, "https://a9", "attacker")
	var se *Error
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `namespace "attacker"`) {
		t.Fatalf("a fifth call of a namespace with a share of 4: %v", err)
	}
	r, err := s.Acquire(context.Background(), "https://a0", "victim")
	if err != nil {
		t.Fatalf("another namespace: %v", err)
	}
	r()
	for _, r := range releases {
		r()
		r() // twice is harmless
	}
	if s.InUse() != 0 {
		t.Errorf("%d in use after release", s.InUse())
	}
}
