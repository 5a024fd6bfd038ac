// Package server exposes a provider.Provider as the Secrets Store CSI Driver's
// v1alpha1 gRPC service on a unix socket, with the standard gRPC health service.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/klog/v2"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
)

// RuntimeName is reported by Version.
const RuntimeName = "vault-azure-csi-provider"

// Mounter is the provider behind the service.
type Mounter interface {
	Mount(ctx context.Context, attributes, targetPath, permission string) (*provider.Result, error)
}

// Server is the gRPC service.
type Server struct {
	pb.UnimplementedCSIDriverProviderServer
	mounter Mounter
	version string
	grpc    *grpc.Server
	health  *health.Server
	obs     observe.Observer
}

// Option configures a Server.
type Option func(*Server)

// WithObserver reports each Mount's result ("ok" or the gRPC code) and
// duration to o.
func WithObserver(o observe.Observer) Option {
	return func(s *Server) { s.obs = observe.OrNop(o) }
}

// New returns a Server for mounter, reporting version.
func New(mounter Mounter, version string, opts ...Option) *Server {
	s := &Server{mounter: mounter, version: version, health: health.NewServer(), obs: observe.Nop{}}
	for _, o := range opts {
		o(s)
	}
	s.grpc = grpc.NewServer(grpc.ChainUnaryInterceptor(s.recoverPanics))
	pb.RegisterCSIDriverProviderServer(s.grpc, s)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	return s
}

// Listen creates the unix socket at path: it removes a stale socket first
// and makes the new one accessible to its owner only (0600).
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating socket directory for %q: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%q exists and is not a socket: refusing to remove it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket %q: %w", path, err)
		}
	}
	// Create the socket owner-only from the start (no window with the
	// umask's mode), then make sure of it.
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %q: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("restricting socket %q to its owner: %w", path, err)
	}
	return l, nil
}

// Serve serves on l until ctx is cancelled, then stops gracefully: in-flight
// Mounts finish (up to grace), new ones are refused.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(l) }()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	klog.InfoS("serving", "socket", l.Addr().String(), "version", s.version)
	select {
	case err := <-errc:
		return fmt.Errorf("gRPC server stopped: %w", err)
	case <-ctx.Done():
	}
	klog.InfoS("shutting down: finishing in-flight mounts", "grace", grace)
	s.health.Shutdown()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		klog.InfoS("grace period over, stopping now")
		s.grpc.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Version implements the v1alpha1 Version call.
func (s *Server) Version(context.Context, *pb.VersionRequest) (*pb.VersionResponse, error) {
	return &pb.VersionResponse{Version: "v1alpha1", RuntimeName: RuntimeName, RuntimeVersion: s.version}, nil
}

// Mount implements the v1alpha1 Mount call. Failures are gRPC status errors
// whose message explains the problem: the driver passes that message into the
// pod's events (it shows only the code of MountResponse.Error).
func (s *Server) Mount(ctx context.Context, req *pb.MountRequest) (*pb.MountResponse, error) {
	start := time.Now()
	res, err := s.mounter.Mount(ctx, req.GetAttributes(), req.GetTargetPath(), req.GetPermission())
	if err != nil {
		st := toStatus(err)
		s.obs.ObserveMount(st.Code().String(), time.Since(start))
		klog.V(2).InfoS("mount answered with an error", "code", st.Code().String(), "duration", time.Since(start))
		return nil, st.Err()
	}
	defer func() { s.obs.ObserveMount("ok", time.Since(start)) }()
	resp := &pb.MountResponse{}
	for _, f := range res.Files {
		resp.Files = append(resp.Files, &pb.File{Path: f.Path, Mode: int32(f.Mode.Perm()), Contents: f.Contents})
	}
	for _, v := range res.Versions {
		resp.ObjectVersion = append(resp.ObjectVersion, &pb.ObjectVersion{Id: v.ID, Version: v.Version})
	}
	return resp, nil
}
