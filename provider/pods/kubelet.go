package pods

import (
	"context"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// DefaultSocket is where the kubelet serves its pod-resources API (the
// kubelet's root directory is /var/lib/kubelet by default).
const DefaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// maxListBytes bounds the kubelet's answer: a node's pods with their
// containers and devices, far below this.
const maxListBytes = 16 << 20

// Kubelet lists the node's pods through the kubelet's pod-resources API.
type Kubelet struct {
	socket string
	conn   *grpc.ClientConn
	client podresourcesv1.PodResourcesListerClient
}

// NewKubelet returns a client of the pod-resources API on socket. It does
// not connect: each List does, when needed.
func NewKubelet(socket string) (*Kubelet, error) {
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxListBytes)))
	if err != nil {
		return nil, fmt.Errorf("kubelet pod-resources socket %q: %w", socket, err)
	}
	return &Kubelet{socket: socket, conn: conn, client: podresourcesv1.NewPodResourcesListerClient(conn)}, nil
}

// List returns the namespace and name of the node's active pods.
func (k *Kubelet) List(ctx context.Context) ([]Name, error) {
	if _, err := os.Stat(k.socket); err != nil {
		return nil, fmt.Errorf("kubelet pod-resources socket: %w (mount the kubelet's pod-resources directory into the provider's pod)", err)
	}
	resp, err := k.client.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing pods through the kubelet's pod-resources API at %s: %w", k.socket, err)
	}
	names := make([]Name, 0, len(resp.GetPodResources()))
	for _, p := range resp.GetPodResources() {
		names = append(names, Name{Namespace: p.GetNamespace(), Name: p.GetName()})
	}
	return names, nil
}

// Close closes the connection.
func (k *Kubelet) Close() error { return k.conn.Close() }
