package world

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Kubelet stands in for the kubelet's pod-resources API (List), which the
// provider reads to tell whether the pods that mounted still run. The world
// has no kubelet; the real node (test/node) runs the real one. As the real
// kubelet does, it lists a pod from before its volumes are mounted
// (World.Volume adds it) until the test deletes it.
type Kubelet struct {
	Socket string
	srv    *grpc.Server
	lists  atomic.Int64

	mu   sync.Mutex
	pods map[[2]string]bool
	down bool
}

func startKubelet(dir string) (*Kubelet, error) {
	k := &Kubelet{Socket: filepath.Join(dir, "pod-resources", "kubelet.sock"), pods: map[[2]string]bool{}}
	l, err := listenUnix(k.Socket)
	if err != nil {
		return nil, err
	}
	k.srv = grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(k.srv, &podLister{k: k})
	go func() { _ = k.srv.Serve(l) }()
	return k, nil
}

// Run lists pod from now on.
func (k *Kubelet) Run(pod Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pods[[2]string{pod.Namespace, pod.Name}] = true
}

// Delete stops listing pod, as the kubelet does once its containers ended.
func (k *Kubelet) Delete(pod Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.pods, [2]string{pod.Namespace, pod.Name})
}

// SetDown makes List fail (a kubelet restarting) or answer again.
func (k *Kubelet) SetDown(down bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.down = down
}

// Lists returns how many List calls it answered.
func (k *Kubelet) Lists() int64 { return k.lists.Load() }

func (k *Kubelet) close() error {
	k.srv.Stop()
	return nil
}

type podLister struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	k *Kubelet
}

func (p *podLister) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	k := p.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down {
		return nil, errKubeletDown
	}
	k.lists.Add(1)
	resp := &podresourcesv1.ListPodResourcesResponse{}
	for n := range k.pods {
		resp.PodResources = append(resp.PodResources, &podresourcesv1.PodResources{Namespace: n[0], Name: n[1],
			Containers: []*podresourcesv1.ContainerResources{{Name: "app"}}})
	}
	return resp, nil
}

type kubeletError string

func (e kubeletError) Error() string { return string(e) }

const errKubeletDown = kubeletError("kubelet restarting")

func listenUnix(path string) (net.Listener, error) {
	if err := mkdirFor(path); err != nil {
		return nil, err
	}
	return net.Listen("unix", path)
}

func mkdirFor(path string) error { return os.MkdirAll(filepath.Dir(path), 0o755) }
