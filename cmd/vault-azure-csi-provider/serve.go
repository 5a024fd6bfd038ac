package main

import (
	"context"
	"fmt"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/serviceaccount"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
	"github.com/vaultazure/vault-azure-csi-provider/provider/server"
)

// newProvider wires the auth methods and metrics into a provider.
func newProvider(o *options, m *metrics.Metrics) (*provider.Provider, error) {
	az, err := azure.New(azure.Config{
		OnRequest:              m.AzureRequest,
		IMDSEndpoint:           o.imdsEndpoint,
		AuthorityHost:          o.authorityHost,
		NMIEndpoint:            o.nmiEndpoint,
		DefaultTenantID:        o.tenantID,
		NodeIdentityNamespaces: splitList(o.nodeIdentityNS),
	})
	if err != nil {
		return nil, fmt.Errorf("configuring Azure identity: %w", err)
	}
	sa := serviceaccount.Method{}
	manager := auth.NewManager(map[string]auth.Method{
		auth.MethodAzure: az, auth.MethodKubernetes: sa, auth.MethodJWT: sa,
	}, auth.Options{DisableCache: o.disableCache, OnCacheLookup: func(hit bool) { m.CacheLookup("vault_token", hit) }})
	return provider.New(provider.Config{
		DefaultVaultAddress: o.vaultAddr,
		VaultTimeout:        o.vaultTimeout,
		MaxResponseBytes:    o.maxObjectsBytes,
		OnVaultRequest:      m.VaultRequest,
	}, manager)
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
	return server.New(p, version, server.WithMountObserver(m.ObserveMount)).Serve(ctx, l, o.shutdownGrace)
}
