// Package setup builds the provider from its flags: the one constructor that
// serving, the mount command and the in-process load test share.
package setup

import (
	"fmt"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/methods"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
	"github.com/vaultazure/vault-azure-csi-provider/auth/share"
	"github.com/vaultazure/vault-azure-csi-provider/provider"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/metrics"
	"github.com/vaultazure/vault-azure-csi-provider/provider/pods"
	"github.com/vaultazure/vault-azure-csi-provider/provider/server"
	"github.com/vaultazure/vault-azure-csi-provider/provider/statefile"
)

// Wiring is the provider and the parts it is built from. The server uses
// the provider; the mount command also uses the parts, to check one step at
// a time.
type Wiring struct {
	Manager  *auth.Manager
	Provider *provider.Provider
	metrics  *metrics.Metrics
}

// New builds the auth methods, the token manager and the provider from the
// flags, reporting to m. The server, the mount command and the in-process
// load test share it, so each runs exactly the server's Mount path.
func New(o *Options, m *metrics.Metrics) (*Wiring, error) {
	if o.SecretCacheTTL < 0 || o.VaultMaxConc < 0 || o.VaultMaxPerAddr < 0 || o.VaultMaxPerNS < 0 {
		return nil, fmt.Errorf("--secret-cache-ttl (got %s) and --vault-max-concurrency* (got %d, %d, %d) must not be negative", o.SecretCacheTTL, o.VaultMaxConc, o.VaultMaxPerAddr, o.VaultMaxPerNS)
	}
	for name, n := range map[string]int{"--token-cache-size": o.TokenCacheSize, "--vault-client-cache-size": o.ClientCacheSize, "--secret-cache-size": o.SecretCacheSize, "--secret-cache-mb": o.SecretCacheMB} {
		if n < 1 {
			return nil, fmt.Errorf("%s must be at least 1 (got %d)", name, n)
		}
	}
	if o.RequireTLS && strings.HasPrefix(strings.ToLower(o.VaultAddr), "http://") {
		return nil, fmt.Errorf("--vault-addr %q uses plain http://, which --require-vault-tls refuses", o.VaultAddr)
	}
	if d := o.VaultDefaults.TLS; (d.ClientCertPath == "") != (d.ClientKeyPath == "") {
		return nil, fmt.Errorf("--vault-tls-client-cert and --vault-tls-client-key must be set together")
	}
	if !o.VaultDefaults.IsZero() && o.VaultAddr == "" {
		return nil, fmt.Errorf("--vault-namespace and --vault-tls-* describe the provider's own Vault: set --vault-addr too")
	}
	sync, err := checkMode(o)
	if err != nil {
		return nil, err
	}
	versionKey, err := loadVersionKey(o.VersionKeyFile, o.VersionKeyEnv)
	if err != nil {
		return nil, err
	}
	allowed, err := parseAllowed(o)
	if err != nil {
		return nil, err
	}
	ms, err := methods.New(methods.Config{Azure: azure.Config{
		Observer:          m,
		IMDSEndpoint:      o.IMDSEndpoint,
		AuthorityHost:     o.AuthorityHost,
		NMIEndpoint:       o.NMIEndpoint,
		DefaultTenantID:   o.TenantID,
		TokenProxy:        o.TokenProxy,
		NodeIdentities:    allowed.nodeIDs,
		NodeIdentityVault: allowed.nodeVaults,
	}, JWTPerServiceAccount: o.JWTPerSA})
	if err != nil {
		return nil, err
	}
	var tracker *pods.Tracker
	if !sync {
		if tracker, err = podTracker(o); err != nil {
			return nil, err
		}
	}
	var state *statefile.File
	if o.StateFile != "" {
		if versionKey == nil {
			return nil, fmt.Errorf("--state-file needs --version-key-file or --version-key-env: the file is encrypted with a key derived from it")
		}
		if state, err = statefile.Open(o.StateFile, versionKey); err != nil {
			return nil, err
		}
	}
	vaultRetry := &retry.Backoff{Retries: max(o.VaultRetries, 0)}
	shares := share.New(share.Limits{Total: o.VaultMaxConc, PerAddress: o.VaultMaxPerAddr, PerNamespace: o.VaultMaxPerNS})
	manager := auth.NewManager(ms, auth.Options{DisableCache: o.DisableCache, RenewTokens: o.RenewTokens, MaxTokens: o.TokenCacheSize,
		Observer: m, LoginRetry: vaultRetry, Shares: shares, ReloginAfter: o.ReloginAfter})
	p, err := provider.New(provider.Config{
		DefaultVaultAddress:   o.VaultAddr,
		VaultDefaults:         o.VaultDefaults,
		VaultTimeout:          o.VaultTimeout,
		MaxResponseBytes:      o.MaxObjectsBytes,
		Observer:              m,
		SecretCacheTTL:        o.SecretCacheTTL,
		SecretCacheMaxEntries: o.SecretCacheSize,
		SecretCacheMaxBytes:   o.SecretCacheMB << 20,
		MaxVaultClients:       o.ClientCacheSize,
		RequireVaultTLS:       o.RequireTLS,
		Shares:                shares,
		VaultRetry:            vaultRetry,
		VersionKey:            versionKey,
		MountCacheSize:        o.MountCacheSize,
		DisableDynamicReuse:   !o.DynamicReuse,
		Dynamic:               dynamic.Config{IdleRevoke: o.DynamicIdle, MaxSecrets: o.DynamicMax, MaxPerNamespace: o.DynamicMaxNS},
		Pods:                  tracker,
		AllowedAddresses:      allowed.addresses,
		AllowedTLSDirs:        allowed.tlsDirs,
		StateFile:             state,
		SyncController:        sync,
		SyncPollInterval:      o.SyncPoll,
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
	return &Wiring{Manager: manager, Provider: p, metrics: m}, nil
}

// checkMode validates --mode and reports whether it is sync-controller.
func checkMode(o *Options) (bool, error) {
	switch o.Mode {
	case ModeDriver, "":
		return false, nil
	case ModeSyncController:
	default:
		return false, fmt.Errorf("--mode %q is not one of %s, %s", o.Mode, ModeDriver, ModeSyncController)
	}
	if o.NodeIdentity != "" || o.NodeIdentityNS != "" {
		return false, fmt.Errorf("--allow-node-identity and --allow-node-identity-namespaces cannot be used with --mode=%s: "+
			"in the sync controller's pod the node's identity would be the same for every SecretSync of every namespace", ModeSyncController)
	}
	if o.SyncPoll <= 0 {
		return false, fmt.Errorf("--sync-poll-interval must be positive (got %s): set it to the controller's --rotation-poll-interval; "+
			"a controller that does not poll cannot keep dynamic secrets alive", o.SyncPoll)
	}
	return true, nil
}

// podTracker lists the node's pods through the kubelet's socket; nil when
// --kubelet-pod-resources-socket is empty.
func podTracker(o *Options) (*pods.Tracker, error) {
	if o.PodsSocket == "" {
		return nil, nil
	}
	var self pods.Name
	if o.SelfPod != "" {
		ns, name, ok := strings.Cut(o.SelfPod, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("--self-pod %q is not <namespace>/<name>", o.SelfPod)
		}
		self = pods.Name{Namespace: ns, Name: name}
	}
	k, err := pods.NewKubelet(o.PodsSocket)
	if err != nil {
		return nil, err
	}
	return pods.NewTracker(pods.Config{Interval: o.PodListInterval, GoneAfter: o.PodGoneAfter, Self: self}, k), nil
}

// Server returns the gRPC service of the provider, reporting each Mount to
// the metrics.
func (w *Wiring) Server(version string) *server.Server {
	return server.New(w.Provider, version, server.WithObserver(w.metrics))
}
