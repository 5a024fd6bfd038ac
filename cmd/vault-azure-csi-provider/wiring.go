package main

import (
	"fmt"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/serviceaccount"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
)

// wiring is the provider and the parts it is built from. The server uses the
// provider; the mount command also uses the parts, to check one step at a time.
type wiring struct {
	azure    *azure.Method
	manager  *auth.Manager
	provider *provider.Provider
}

// wire builds the auth methods, the token manager and the provider from the
// flags, reporting to m. The server and the mount command share it, so the
// command runs exactly the server's Mount path.
func wire(o *options, m *metrics.Metrics) (*wiring, error) {
	if o.secretCacheTTL < 0 || o.vaultMaxConc < 0 {
		return nil, fmt.Errorf("--secret-cache-ttl (got %s) and --vault-max-concurrency (got %d) must not be negative", o.secretCacheTTL, o.vaultMaxConc)
	}
	for name, n := range map[string]int{"--token-cache-size": o.tokenCacheSize, "--vault-client-cache-size": o.clientCacheSize, "--secret-cache-size": o.secretCacheSize} {
		if n < 1 {
			return nil, fmt.Errorf("%s must be at least 1 (got %d)", name, n)
		}
	}
	if o.requireTLS && strings.HasPrefix(strings.ToLower(o.vaultAddr), "http://") {
		return nil, fmt.Errorf("--vault-addr %q uses plain http://, which --require-vault-tls refuses", o.vaultAddr)
	}
	versionKey, err := loadVersionKey(o.versionKeyFile)
	if err != nil {
		return nil, err
	}
	az, err := azure.New(azure.Config{
		Observer:               m,
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
	retry := &auth.Backoff{Retries: max(o.vaultRetries, 0)}
	manager := auth.NewManager(map[string]auth.Method{
		auth.MethodAzure: az, auth.MethodKubernetes: sa, auth.MethodJWT: sa,
	}, auth.Options{DisableCache: o.disableCache, RenewTokens: o.renewTokens, MaxTokens: o.tokenCacheSize,
		Observer: m, LoginRetry: retry})
	p, err := provider.New(provider.Config{
		DefaultVaultAddress:   o.vaultAddr,
		VaultTimeout:          o.vaultTimeout,
		MaxResponseBytes:      o.maxObjectsBytes,
		Observer:              m,
		SecretCacheTTL:        o.secretCacheTTL,
		SecretCacheMaxEntries: o.secretCacheSize,
		MaxVaultClients:       o.clientCacheSize,
		RequireVaultTLS:       o.requireTLS,
		VaultMaxConcurrency:   o.vaultMaxConc,
		VaultRetry:            retry,
		VersionKey:            versionKey,
		MountCacheSize:        o.mountCacheSize,
		DisableDynamicReuse:   !o.dynamicReuse,
		Dynamic:               dynamic.Config{IdleRevoke: o.dynamicIdle, MaxSecrets: o.dynamicMax},
	}, manager)
	if err != nil {
		return nil, err
	}
	m.DynamicLeases(p.DynamicLeases)
	m.CacheSizes(func() map[string]int {
		sizes := p.CacheSizes()
		sizes["vault_token"] = manager.Len()
		return sizes
	})
	return &wiring{azure: az, manager: manager, provider: p}, nil
}
