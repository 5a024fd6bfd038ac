package pods

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

type fakeLister struct {
	mu    sync.Mutex
	names []Name
	err   error
}

func (f *fakeLister) set(err error, names ...Name) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names, f.err = names, err
}

func (f *fakeLister) List(context.Context) ([]Name, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Name(nil), f.names...), f.err
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

var (
	self = Name{"kube-system", "vault-azure-csi-provider-x1"}
	web  = Name{"shop", "web-0"}
)

// TestStates walks a pod through its life as the kubelet lists it: alive
// while listed and through a short gap, gone only after the grace period
// and two lists without it; unknown whenever the lists cannot be trusted.
func TestStates(t *testing.T) {
	c := &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := &fakeLister{}
	tr := NewTracker(Config{Interval: 10 * time.Second, GoneAfter: 30 * time.Second, Self: self, Now: c.Now}, l)
	mounted := c.now
	step := func(err error, names ...Name) {
		t.Helper()
		c.now = c.now.Add(10 * time.Second)
		l.set(err, names...)
		_ = tr.Poll(context.Background())
	}
	want := func(s State, when string) {
		t.Helper()
		if got := tr.State(web, mounted); got != s {
			t.Errorf("%s: state %v, want %v", when, got, s)
		}
	}
	want(Unknown, "before any list")
	step(nil, self, web)
	want(Alive, "listed")
	step(nil, self)
	want(Alive, "absent from one list, 10 s")
	step(nil, self, web)
	want(Alive, "listed again")
	step(errors.New("connection refused"))
	want(Unknown, "the kubelet does not answer")
	step(nil, web)
	want(Unknown, "a list without the provider's own pod (kubelet not synced)")
	step(nil, self, web)
	want(Alive, "listed after the kubelet came back")
	for range 2 {
		step(nil, self)
		want(Alive, "absent, within the grace period")
	}
	step(nil, self)
	want(Gone, "absent for 30 s over 3 lists")
	c.now = c.now.Add(5 * time.Minute)
	want(Unknown, "no list for 5 minutes")
}

// TestMountedAfterLastList: a pod that mounted after the last list is
// alive, however long ago it was last listed (it ran to mount).
func TestMountedAfterLastList(t *testing.T) {
	c := &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := &fakeLister{}
	tr := NewTracker(Config{Interval: 10 * time.Second, GoneAfter: 30 * time.Second, Now: c.Now}, l)
	for range 5 {
		c.now = c.now.Add(10 * time.Second)
		l.set(nil)
		_ = tr.Poll(context.Background())
	}
	if got := tr.State(web, c.now.Add(-5*time.Second)); got != Alive {
		t.Errorf("a pod that mounted after the last list: %v, want alive", got)
	}
	if got := tr.State(web, c.now.Add(-time.Hour)); got != Gone {
		t.Errorf("a pod that mounted an hour ago and was never listed since: %v, want gone", got)
	}
}

// kubeletServer answers List with the pods it holds, as the kubelet does.
type kubeletServer struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	pods []*podresourcesv1.PodResources
}

func (k *kubeletServer) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	return &podresourcesv1.ListPodResourcesResponse{PodResources: k.pods}, nil
}

func TestKubeletClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "kubelet.sock")
	k, err := NewKubelet(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.List(context.Background()); err == nil {
		t.Fatal("List without a socket succeeded")
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(srv, &kubeletServer{pods: []*podresourcesv1.PodResources{
		{Namespace: "shop", Name: "web-0", Containers: []*podresourcesv1.ContainerResources{{Name: "app"}}},
		{Namespace: "kube-system", Name: "p"},
	}})
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names, err := k.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[0] != web || names[1] != (Name{"kube-system", "p"}) {
		t.Errorf("List = %v", names)
	}
}
