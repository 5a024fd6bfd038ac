// Package registrar registers a CSI driver with the kubelet through the
// kubelet's plugin registration API, as node-driver-registrar does (which
// the Go module proxy does not serve): a gRPC server on
// <kubelet root>/plugins_registry/<driver>-reg.sock that the kubelet's plugin
// watcher finds, asks for the driver's name and endpoint, and tells whether
// registration worked.
package registrar

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// Registrar is a running registration server.
type Registrar struct {
	registerapi.UnimplementedRegistrationServer
	driver, endpoint, socket string
	server                   *grpc.Server

	mu         sync.Mutex
	registered bool
	lastError  string
}

// Start serves registration for driver (its CSI socket at endpoint) in the
// kubelet's plugin registry directory.
func Start(registryDir, driver, endpoint string) (*Registrar, error) {
	r := &Registrar{driver: driver, endpoint: endpoint, socket: filepath.Join(registryDir, driver+"-reg.sock")}
	if err := os.MkdirAll(registryDir, 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(r.socket); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	ln, err := net.Listen("unix", r.socket)
	if err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	r.server = grpc.NewServer()
	registerapi.RegisterRegistrationServer(r.server, r)
	go func() { _ = r.server.Serve(ln) }()
	return r, nil
}

// GetInfo tells the kubelet what plugin this is and where it listens.
func (r *Registrar) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              r.driver,
		Endpoint:          r.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

// NotifyRegistrationStatus receives the kubelet's verdict.
func (r *Registrar) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	r.mu.Lock()
	r.registered, r.lastError = s.PluginRegistered, s.Error
	r.mu.Unlock()
	return &registerapi.RegistrationStatusResponse{}, nil
}

// Status returns whether the kubelet registered the driver, and its error.
func (r *Registrar) Status() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered, r.lastError
}

// Stop stops serving and removes the socket (the kubelet then deregisters
// the driver).
func (r *Registrar) Stop() {
	r.server.Stop()
	_ = os.Remove(r.socket)
}
