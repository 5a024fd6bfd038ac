package setup

import (
	"flag"
	"strings"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/auth/share"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/pods"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
	"github.com/vaultazure/vault-azure-csi-provider/provider/vaultclient"
)

// Options are the provider's flags: the server's and, through them, the
// mount command's.
type Options struct {
	Endpoint        string
	VaultAddr       string
	VaultDefaults   params.Defaults
	VaultTimeout    time.Duration
	LogFormat       string
	ShowVersion     bool
	ShutdownGrace   time.Duration
	NodeIdentityNS  string
	IMDSEndpoint    string
	AuthorityHost   string
	NMIEndpoint     string
	TenantID        string
	TokenProxy      azure.TokenProxyConfig
	DisableCache    bool
	SecretCacheTTL  time.Duration
	VaultMaxConc    int
	VaultMaxPerAddr int
	VaultMaxPerNS   int
	MaxObjectsBytes int
	VaultRetries    int
	MountCacheSize  int
	HealthAddr      string
	MetricsAddr     string
	VersionKeyFile  string
	RenewTokens     bool
	TokenCacheSize  int
	ClientCacheSize int
	SecretCacheSize int
	SecretCacheMB   int
	RequireTLS      bool
	DynamicReuse    bool
	DynamicIdle     time.Duration
	DynamicMax      int
	DynamicMaxNS    int
	PodsSocket      string
	PodGoneAfter    time.Duration
	PodListInterval time.Duration
	SelfPod         string
	StateFile       string
	ReloginAfter    time.Duration
	AllowedAddrs    string
	AllowedTLSDirs  string
	NodeIdentity    string
	JWTPerSA        bool
	Mode            string
	SyncPoll        time.Duration
	VersionKeyEnv   string
}

// Modes (--mode): whom the provider serves.
const (
	ModeDriver         = "driver"
	ModeSyncController = "sync-controller"
)

// RegisterFlags defines the provider's flags on fs and returns the options
// they set.
func RegisterFlags(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.Endpoint, "endpoint", "/provider/vault-azure.sock", "unix socket to serve the driver on (the driver finds it as <providers dir>/<provider name>.sock)")
	fs.StringVar(&o.VaultAddr, "vault-addr", "", "default Vault address for SecretProviderClasses without vaultAddress")
	fs.StringVar(&o.VaultDefaults.Namespace, "vault-namespace", "", "Vault Enterprise namespace for classes that use --vault-addr and set no vaultNamespace")
	fs.StringVar(&o.VaultDefaults.TLS.CACertPath, "vault-tls-ca-cert", "", "PEM file of the CA(s) that sign --vault-addr's certificate, for classes that use it and set no CA of their own (vaultCACertPath, vaultCADirectory, vaultCAPem); empty: the system's roots")
	fs.StringVar(&o.VaultDefaults.TLS.CADirectory, "vault-tls-ca-directory", "", "directory of PEM CA files, as --vault-tls-ca-cert")
	fs.StringVar(&o.VaultDefaults.TLS.ServerName, "vault-tls-server-name", "", "name to verify --vault-addr's certificate against (SNI), for classes that use it and set no vaultTLSServerName")
	fs.StringVar(&o.VaultDefaults.TLS.ClientCertPath, "vault-tls-client-cert", "", "PEM client certificate presented to --vault-addr (mTLS), for classes that use it and set no vaultTLSClientCertPath; with --vault-tls-client-key")
	fs.StringVar(&o.VaultDefaults.TLS.ClientKeyPath, "vault-tls-client-key", "", "PEM private key of --vault-tls-client-cert")
	fs.DurationVar(&o.VaultTimeout, "vault-timeout", 30*time.Second, "timeout of each Vault request")
	fs.StringVar(&o.LogFormat, "log-format", "text", "log format: text (klog's lines) or json (lines with the fields of Kubernetes components' JSON logs: ts, caller, msg, v or err, then the key/value pairs)")
	fs.BoolVar(&o.ShowVersion, "version", false, "print the version, commit, Go version and platform, and exit")
	fs.DurationVar(&o.ShutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long in-flight mounts may take to finish")
	fs.StringVar(&o.NodeIdentity, "allow-node-identity", "", "comma-separated rules <namespace>:<clientID> letting a namespace's pods log in as one of the node's managed identities (azureIdentity: managed); either may be *, the client ID may be system (the system-assigned one); the identity is presented only to --vault-addr or --allowed-vault-addresses; default none")
	fs.StringVar(&o.NodeIdentityNS, "allow-node-identity-namespaces", "", "comma-separated namespaces whose pods may log in as any of the node's managed identities (the same as <namespace>:* in --allow-node-identity); \"*\" allows all; default none")
	fs.StringVar(&o.AllowedAddrs, "allowed-vault-addresses", "", "comma-separated Vault addresses (scheme://host[:port], * within a host label, e.g. https://*.vault.example.com) that SecretProviderClasses may name in vaultAddress; others fail their Mount with InvalidArgument; empty: any")
	fs.StringVar(&o.AllowedTLSDirs, "allowed-tls-dirs", "", "comma-separated directories (in the provider's pod) that the TLS file parameters (vaultCACertPath, vaultCADirectory, vaultTLSClientCertPath, vaultTLSClientKeyPath) may name; {namespace} stands for the class's namespace, e.g. /etc/vault-tls/{namespace}; empty: any")
	fs.BoolVar(&o.JWTPerSA, "jwt-share-per-service-account", false, "share a jwt login's Vault token among the pods of a service account; only if no jwt role binds per-pod claims (bound_claims on the pod name); default: each pod logs in for itself")
	fs.StringVar(&o.IMDSEndpoint, "azure-imds-endpoint", azure.DefaultIMDSEndpoint, "Azure Instance Metadata Service base URL")
	fs.StringVar(&o.AuthorityHost, "azure-authority-host", azure.DefaultAuthorityHost, "Entra ID authority host (https), e.g. https://login.microsoftonline.us/ for US Government")
	fs.StringVar(&o.NMIEndpoint, "azure-nmi-endpoint", azure.DefaultNMIEndpoint, "aad-pod-identity NMI token URL")
	fs.StringVar(&o.TenantID, "azure-tenant-id", "", "default Entra tenant for workload identity when a SecretProviderClass sets no tenantID")
	fs.StringVar(&o.TokenProxy.URL, "azure-token-proxy-url", azure.DefaultTokenProxyURL, "the AKS token proxy that azureIdentity identityBinding exchanges tokens at (the cluster's API server, https)")
	fs.StringVar(&o.TokenProxy.CAFile, "azure-token-proxy-ca-file", azure.DefaultTokenProxyCAFile, "PEM CA the token proxy's certificate is verified with (the cluster CA; re-read when it changes)")
	fs.StringVar(&o.TokenProxy.ServerName, "azure-token-proxy-server-name", "", "TLS server name of the token proxy; empty: derived as AKS does from the cluster id in the API server's certificate (a<base32hex(sha256(\"identity-binding\"+id))>.ests.aks)")
	fs.BoolVar(&o.DisableCache, "disable-token-cache", false, "log in to Vault on every mount (for comparison only)")
	fs.DurationVar(&o.SecretCacheTTL, "secret-cache-ttl", 2*time.Minute, "keep Vault GET responses this long per (Vault token, path) so rotation polls of pods sharing an identity read each path at most once; never for POST/PUT or leased secrets; 0 disables; worst-case rotation delay = poll interval + this")
	fs.IntVar(&o.VaultMaxConc, "vault-max-concurrency", share.DefaultTotal, "most Vault calls (logins, reads, KV-version lookups) in flight at once across all mounts")
	fs.IntVar(&o.VaultMaxPerAddr, "vault-max-concurrency-per-address", 0, "most of them to one Vault address (SecretProviderClasses choose it: a slow or hung Vault holds this many at most); 0: half of --vault-max-concurrency")
	fs.IntVar(&o.VaultMaxPerNS, "vault-max-concurrency-per-namespace", 0, "most of them for the pods of one namespace; 0: half of --vault-max-concurrency")
	fs.IntVar(&o.MaxObjectsBytes, "max-mount-bytes", 4<<20, "largest answer to one Mount: the files' contents plus, per file, twice its name and 80 bytes of framing; the default is the driver's default --max-call-recv-msg-size (4 MiB): raise both together")
	fs.IntVar(&o.VaultRetries, "vault-max-retries", 3, "how often a Vault login or read that got no answer, 429, 502, 503 or 504 (reads: also 500) is tried again, with exponential backoff and jitter, honouring Retry-After and the mount's deadline; 0: never")
	fs.IntVar(&o.MountCacheSize, "mount-cache-size", secrets.DefaultMountCacheSize, "most Vault mounts remembered (for 5 minutes each) to tell KV v2 paths from others, over all Vault addresses and namespaces")
	fs.StringVar(&o.HealthAddr, "health-addr", "", "address of the HTTP server for /healthz and /readyz, e.g. :8096 (the Helm chart sets it); empty: off")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "", "address of the HTTP server for /metrics (Prometheus), e.g. :8097 (the Helm chart sets it); may equal --health-addr; empty: off")
	fs.BoolVar(&o.RenewTokens, "renew-tokens", false, "renew cached Vault tokens (auth/token/renew-self, up to their max TTL) instead of logging in again when a fifth of the TTL granted at login is left; renewal does not re-verify the pod's identity: a removed role binding, federated credential or managed identity goes unnoticed until the token's max TTL (Vault's default max TTL is 768h)")
	fs.IntVar(&o.TokenCacheSize, "token-cache-size", auth.DefaultMaxTokens, "most Vault tokens cached (one per identity, role, Vault address and namespace); beyond it the least recently used is dropped (not revoked: it expires at its TTL)")
	fs.IntVar(&o.ClientCacheSize, "vault-client-cache-size", vaultclient.DefaultMaxClients, "most Vault clients kept (one per vaultAddress and TLS settings); unused ones are also dropped after 10 minutes")
	fs.IntVar(&o.SecretCacheSize, "secret-cache-size", 4096, "most Vault responses in the secret cache (see --secret-cache-ttl)")
	fs.IntVar(&o.SecretCacheMB, "secret-cache-mb", 64, "most MiB the secret cache holds (its answers' data as JSON); an answer over an eighth of it is not cached")
	fs.BoolVar(&o.DynamicReuse, "reuse-dynamic-secrets", true, "keep each pod's dynamic secrets (leases such as database/creds, and pki certificates) and hand them out again at the pod's rotation polls until they must be renewed or replaced; false: a new one at every Mount (as objects with reuse: false)")
	fs.DurationVar(&o.DynamicIdle, "dynamic-idle-revoke", dynamic.DefaultIdleRevoke, "only for pods whose liveness is unknown (no answer from --kubelet-pod-resources-socket): after this long without a Mount their dynamic secrets are no longer renewed and expire at their TTL; they are never revoked early")
	fs.IntVar(&o.DynamicMax, "dynamic-max-secrets", dynamic.DefaultMaxSecrets, "most dynamic secrets kept over all pods of the node; beyond it a new one fails its Mount with ResourceExhausted (none is evicted)")
	fs.IntVar(&o.DynamicMaxNS, "dynamic-max-secrets-per-namespace", dynamic.DefaultMaxPerNamespace, "most dynamic secrets the pods of one namespace keep on the node; beyond it the namespace's new ones fail their Mount with ResourceExhausted")
	fs.StringVar(&o.PodsSocket, "kubelet-pod-resources-socket", pods.DefaultSocket, "the kubelet's pod-resources API socket, which lists the node's running pods: the dynamic secrets of a pod are renewed while it runs and revoked once it is gone; empty: pod liveness unknown (see --dynamic-idle-revoke)")
	fs.DurationVar(&o.PodGoneAfter, "pod-gone-after", 30*time.Second, "a pod the kubelet has stopped listing for this long (in two lists at least) is gone: its dynamic secrets are revoked")
	fs.DurationVar(&o.PodListInterval, "pod-list-interval", 10*time.Second, "how often the kubelet's list of the node's pods is read")
	fs.DurationVar(&o.ReloginAfter, "refused-relogin-after", auth.DefaultReloginAfter, "a 403 on a cached Vault token at a path not refused before logs the identity in again (the role may have gained a policy), at most once per this long per identity")
	fs.StringVar(&o.StateFile, "state-file", "", "file on the node that keeps the dynamic secrets of running pods (and the Vault tokens that renew them) across provider restarts, encrypted with a key derived from --version-key-file (required with it); empty: kept in memory only, so a restart stops their renewal (the Helm chart sets it)")
	fs.StringVar(&o.SelfPod, "self-pod", "", "the provider's own pod as <namespace>/<name> (the Helm chart sets it): a list of the node's pods without it is not trusted (a kubelet that has just restarted lists none); empty: every list is trusted")
	fs.BoolVar(&o.RequireTLS, "require-vault-tls", false, "refuse Vault addresses with plain http:// (tokens and secrets would travel in cleartext); without it each such address is logged once with a warning")
	fs.StringVar(&o.VersionKeyFile, "version-key-file", "", "file with the secret key of the object versions (at least 32 bytes); providers with the same key report the same version for the same content, across restarts and nodes (the Helm chart generates one into a Secret); empty: a random key per process, so versions change on restart")
	fs.StringVar(&o.VersionKeyEnv, "version-key-env", "", "name of an environment variable holding the object-version key, instead of --version-key-file (for a container whose pod has no volume for it, e.g. the sync controller's providerContainer with env valueFrom secretKeyRef)")
	fs.StringVar(&o.Mode, "mode", ModeDriver, "whom the provider serves: driver (a DaemonSet beside the Secrets Store CSI Driver) or sync-controller (a container in the Secrets Store Sync Controller's pod: requests are served as their SecretSync's namespace, service account and class, identities the node lends are refused, kept dynamic secrets live while the SecretSync polls)")
	fs.DurationVar(&o.SyncPoll, "sync-poll-interval", 12*time.Hour, "with --mode=sync-controller: the controller's --rotation-poll-interval; a kept dynamic secret is replaced at a poll when it would not outlive the next one, and revoked when not asked for in two intervals and a margin of one more (at most an hour: 25h for 12h)")
	return o
}

// NodeIdentityNamespaces is --allow-node-identity-namespaces as a list.
func (o *Options) NodeIdentityNamespaces() []string { return splitList(o.NodeIdentityNS) }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
