package main

import (
	"context"
	"fmt"

	"k8s.io/klog/v2"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/serviceaccount"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/server"
)

// newProvider wires the auth methods into a provider.
func newProvider(o *options) (*provider.Provider, error) {
	az, err := azure.New(azure.Config{
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
	}, auth.Options{DisableCache: o.disableCache})
	return provider.New(provider.Config{
		DefaultVaultAddress: o.vaultAddr,
		VaultTimeout:        o.vaultTimeout,
		MaxResponseBytes:    o.maxObjectsBytes,
	}, manager)
}

func serve(ctx context.Context, o *options) error {
	p, err := newProvider(o)
	if err != nil {
		return err
	}
	l, err := server.Listen(o.endpoint)
	if err != nil {
		return err
	}
	klog.InfoS("starting", "version", version, "endpoint", o.endpoint, "defaultVaultAddress", o.vaultAddr,
		"nodeIdentityNamespaces", splitList(o.nodeIdentityNS))
	return server.New(p, version).Serve(ctx, l, o.shutdownGrace)
}
