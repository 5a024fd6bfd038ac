package main

import (
	"context"
	"errors"
	"time"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/cmd/vault-azure-csi-provider/setup"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
	"github.com/vaultazure/vault-azure-csi-provider/provider/server"
)

func serve(ctx context.Context, o *setup.Options) error {
	m := metrics.New()
	w, err := setup.New(o, m)
	if err != nil {
		return err
	}
	l, err := server.Listen(o.Endpoint)
	if err != nil {
		return err
	}
	klog.InfoS("starting", "version", version, "commit", buildCommit(), "endpoint", o.Endpoint, "defaultVaultAddress", retry.Redact(o.VaultAddr),
		"nodeIdentityNamespaces", o.NodeIdentityNamespaces(), "mode", o.Mode)
	setup.LogVersionKey(o.VersionKeyFile, o.VersionKeyEnv)
	setup.LogDynamic(o)
	probe, err := newSocketProbe(o.Endpoint)
	if err != nil {
		l.Close()
		return err
	}
	defer probe.close()
	ops, err := startOps(o.HealthAddr, o.MetricsAddr, m.Handler(), probe.check)
	if err != nil {
		l.Close()
		return err
	}
	go releaseMemoryAfterBursts(ctx)
	w.Provider.Start(ctx)
	serveErr := w.Server(version).Serve(ctx, l, o.ShutdownGrace)
	w.Provider.Flush() // the dynamic secrets kept for pods outlive this process
	// /readyz has answered 503 since shutdown began; stop the HTTP servers last.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(serveErr, ops.stop(sctx))
}
