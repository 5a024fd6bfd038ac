package main

import (
	"fmt"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/methods"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
)

// wiring is the provider and the parts it is built from. The server uses the
// provider; the mount command also uses the parts, to check one step at a time.
type wiring struct {
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
	ms, err := methods.New(methods.Config{Azure: azure.Config{
		OnRequest:              m.AzureRequest,
		IMDSEndpoint:           o.imdsEndpoint,
		AuthorityHost:          o.authorityHost,
		NMIEndpoint:            o.nmiEndpoint,
		DefaultTenantID:        o.tenantID,
		NodeIdentityNamespaces: splitList(o.nodeIdentityNS),
	}})
	if err != nil {
		return nil, err
	}
	vaultRetry := &retry.Backoff{Retries: max(o.vaultRetries, 0)}
	manager := auth.NewManager(ms, auth.Options{DisableCache: o.disableCache, RenewTokens: o.renewTokens, MaxTokens: o.tokenCacheSize,
		OnCacheLookup: func(hit bool) { m.CacheLookup("vault_token", hit) }, LoginRetry: vaultRetry})
	p, err := provider.New(provider.Config{
		DefaultVaultAddress:   o.vaultAddr,
		VaultTimeout:          o.vaultTimeout,
		MaxResponseBytes:      o.maxObjectsBytes,
		OnVaultRequest:        m.VaultRequest,
		SecretCacheTTL:        o.secretCacheTTL,
		SecretCacheMaxEntries: o.secretCacheSize,
		MaxVaultClients:       o.clientCacheSize,
		RequireVaultTLS:       o.requireTLS,
		VaultMaxConcurrency:   o.vaultMaxConc,
		OnSecretCache:         func(hit bool) { m.CacheLookup("secret", hit) },
		VaultRetry:            vaultRetry,
		VersionKey:            versionKey,
		MountCacheSize:        o.mountCacheSize,
		DisableDynamicReuse:   !o.dynamicReuse,
		Dynamic: dynamic.Config{IdleRevoke: o.dynamicIdle, MaxSecrets: o.dynamicMax,
			OnEvent: func(e dynamic.Event) { m.DynamicEvent(string(e)) }},
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
	return &wiring{manager: manager, provider: p}, nil
}
