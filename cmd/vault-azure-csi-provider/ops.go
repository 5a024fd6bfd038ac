package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"k8s.io/klog/v2"
)

// Paths of the operations HTTP server.
const (
	pathHealthz = "/healthz"
	pathReadyz  = "/readyz"
	pathMetrics = "/metrics"
)

// opsServers are the HTTP servers for probes and metrics (one per distinct
// address: --health-addr and --metrics-addr may be the same).
type opsServers struct {
	servers []*http.Server
	addrs   []string // bound addresses, in the order of servers
	errc    chan error
}

// readinessCheck reports nil when the provider can serve mounts.
type readinessCheck func(ctx context.Context) error

// startOps listens on the configured addresses and serves /healthz and
// /readyz (health address) and /metrics (metrics address). An address that
// cannot be bound is an error: the probes would fail anyway.
func startOps(healthAddr, metricsAddr string, metricsHandler http.Handler, ready readinessCheck) (*opsServers, error) {
	muxes := map[string]*http.ServeMux{}
	paths := map[string][]string{}
	add := func(addr, path string, h http.Handler) {
		if addr == "" {
			return
		}
		if muxes[addr] == nil {
			muxes[addr] = http.NewServeMux()
		}
		muxes[addr].Handle(path, h)
		paths[addr] = append(paths[addr], path)
	}
	add(healthAddr, pathHealthz, http.HandlerFunc(healthz))
	add(healthAddr, pathReadyz, readyzHandler(ready))
	add(metricsAddr, pathMetrics, metricsHandler)

	addrs := make([]string, 0, len(muxes))
	for a := range muxes {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	o := &opsServers{errc: make(chan error, len(addrs))}
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			o.stop(context.Background())
			return nil, fmt.Errorf("listening for %s on %q: %w", strings.Join(paths[addr], ", "), addr, err)
		}
		srv := &http.Server{Handler: muxes[addr], ReadHeaderTimeout: 5 * time.Second}
		o.servers = append(o.servers, srv)
		o.addrs = append(o.addrs, l.Addr().String())
		klog.InfoS("serving HTTP", "addr", l.Addr().String(), "paths", strings.Join(paths[addr], ","))
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.errc <- fmt.Errorf("HTTP server on %s: %w", addr, err)
			}
		}()
	}
	return o, nil
}

// stop shuts the servers down, waiting for in-flight requests until ctx ends.
func (o *opsServers) stop(ctx context.Context) error {
	var errs []error
	for _, s := range o.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	select {
	case err := <-o.errc:
		errs = append(errs, err)
	default:
	}
	return errors.Join(errs...)
}

// healthz answers while the process runs.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// readyzHandler answers 200 when ready, else 503 with the reason.
func readyzHandler(ready readinessCheck) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// socketProbe checks readiness the way the driver would find out: it calls
// the standard gRPC health service on the provider's own unix socket, which
// reports SERVING from the moment Serve runs until shutdown begins.
type socketProbe struct {
	socket string
	conn   *grpc.ClientConn
	client healthpb.HealthClient
}

func newSocketProbe(socket string) (*socketProbe, error) {
	abs, err := filepath.Abs(socket)
	if err != nil {
		return nil, fmt.Errorf("resolving socket path %q: %w", socket, err)
	}
	conn, err := grpc.NewClient("unix://"+abs, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("preparing the readiness probe of %s: %w", abs, err)
	}
	return &socketProbe{socket: abs, conn: conn, client: healthpb.NewHealthClient(conn)}, nil
}

func (p *socketProbe) check(ctx context.Context) error {
	resp, err := p.client.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("gRPC health check on %s: %w", p.socket, err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("gRPC socket %s reports %s", p.socket, s)
	}
	return nil
}

func (p *socketProbe) close() error { return p.conn.Close() }
