package main

import (
	"context"
	"errors"
	"time"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
	"github.com/vaultazure/vault-azure-csi-provider/provider/server"
)

// newProvider wires the auth methods and metrics into a provider (see wire
// in wiring.go, which the mount command shares).
func newProvider(o *options, m *metrics.Metrics) (*provider.Provider, error) {
	w, err := wire(o, m)
	if err != nil {
		return nil, err
	}
	return w.provider, nil
}

func serve(ctx context.Context, o *options) error {
	m := metrics.New()
	p, err := newProvider(o, m)
	if err != nil {
		return err
	}
	l, err := server.Listen(o.endpoint)
	if err != nil {
		return err
	}
	klog.InfoS("starting", "version", version, "endpoint", o.endpoint, "defaultVaultAddress", o.vaultAddr,
		"nodeIdentityNamespaces", splitList(o.nodeIdentityNS))
	logVersionKey(o.versionKeyFile)
	probe, err := newSocketProbe(o.endpoint)
	if err != nil {
		l.Close()
		return err
	}
	defer probe.close()
	ops, err := startOps(o.healthAddr, o.metricsAddr, m.Handler(), probe.check)
	if err != nil {
		l.Close()
		return err
	}
	go releaseMemoryAfterBursts(ctx)
	p.Start(ctx)
	serveErr := server.New(p, version, server.WithObserver(m)).Serve(ctx, l, o.shutdownGrace)
	// /readyz has answered 503 since shutdown began; stop the HTTP servers last.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(serveErr, ops.stop(sctx))
}
