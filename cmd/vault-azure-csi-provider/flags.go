package main

import (
	"flag"
	"strings"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/azure"
	"github.com/vaultazure/vault-azure-csi-provider/provider/vaultclient"
)

type options struct {
	endpoint        string
	vaultAddr       string
	vaultTimeout    time.Duration
	logFormat       string
	showVersion     bool
	shutdownGrace   time.Duration
	nodeIdentityNS  string
	imdsEndpoint    string
	authorityHost   string
	nmiEndpoint     string
	tenantID        string
	disableCache    bool
	secretCacheTTL  time.Duration
	vaultMaxConc    int
	maxObjectsBytes int
	vaultRetries    int
	healthAddr      string
	metricsAddr     string
	versionKeyFile  string
	renewTokens     bool
	tokenCacheSize  int
	clientCacheSize int
	secretCacheSize int
	requireTLS      bool
}

func registerFlags(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.endpoint, "endpoint", "/provider/vault-azure.sock", "unix socket to serve the driver on (the driver finds it as <providers dir>/<provider name>.sock)")
	fs.StringVar(&o.vaultAddr, "vault-addr", "", "default Vault address for SecretProviderClasses without vaultAddress")
	fs.DurationVar(&o.vaultTimeout, "vault-timeout", 30*time.Second, "timeout of each Vault request")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long in-flight mounts may take to finish")
	fs.StringVar(&o.nodeIdentityNS, "allow-node-identity-namespaces", "", "comma-separated namespaces whose pods may log in as the node's managed identity (azureIdentity: managed); \"*\" allows all; default none")
	fs.StringVar(&o.imdsEndpoint, "azure-imds-endpoint", azure.DefaultIMDSEndpoint, "Azure Instance Metadata Service base URL")
	fs.StringVar(&o.authorityHost, "azure-authority-host", azure.DefaultAuthorityHost, "Entra ID authority host (https), e.g. https://login.microsoftonline.us/ for US Government")
	fs.StringVar(&o.nmiEndpoint, "azure-nmi-endpoint", azure.DefaultNMIEndpoint, "aad-pod-identity NMI token URL")
	fs.StringVar(&o.tenantID, "azure-tenant-id", "", "default Entra tenant for workload identity when a SecretProviderClass sets no tenantID")
	fs.BoolVar(&o.disableCache, "disable-token-cache", false, "log in to Vault on every mount (for comparison only)")
	fs.DurationVar(&o.secretCacheTTL, "secret-cache-ttl", 2*time.Minute, "keep Vault GET responses this long per (Vault token, path) so rotation polls of pods sharing an identity read each path at most once; never for POST/PUT or leased secrets; 0 disables; worst-case rotation delay = poll interval + this")
	fs.IntVar(&o.vaultMaxConc, "vault-max-concurrency", 32, "most Vault reads in flight at once across all mounts (0: the default, 32)")
	fs.IntVar(&o.maxObjectsBytes, "max-mount-bytes", 4<<20, "largest answer to one Mount: the files' contents plus, per file, twice its name and 80 bytes of framing; the default is the driver's default --max-call-recv-msg-size (4 MiB): raise both together")
	fs.IntVar(&o.vaultRetries, "vault-max-retries", 3, "how often a Vault login or read that got no answer, 429, 502, 503 or 504 (reads: also 500) is tried again, with exponential backoff and jitter, honouring Retry-After and the mount's deadline; 0: never")
	fs.StringVar(&o.healthAddr, "health-addr", "", "address of the HTTP server for /healthz and /readyz, e.g. :8096 (the Helm chart sets it); empty: off")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "address of the HTTP server for /metrics (Prometheus), e.g. :8097 (the Helm chart sets it); may equal --health-addr; empty: off")
	fs.BoolVar(&o.renewTokens, "renew-tokens", false, "renew cached Vault tokens (auth/token/renew-self, up to their max TTL) instead of logging in again when a fifth of the TTL granted at login is left; renewal does not re-verify the pod's identity: a removed role binding, federated credential or managed identity goes unnoticed until the max TTL (default 768h)")
	fs.IntVar(&o.tokenCacheSize, "token-cache-size", auth.DefaultMaxTokens, "most Vault tokens cached (one per identity, role, Vault address and namespace); the least recently used is revoked first")
	fs.IntVar(&o.clientCacheSize, "vault-client-cache-size", vaultclient.DefaultMaxClients, "most Vault clients kept (one per vaultAddress and TLS settings); unused ones are also dropped after 10 minutes")
	fs.IntVar(&o.secretCacheSize, "secret-cache-size", 4096, "most Vault responses in the secret cache (see --secret-cache-ttl)")
	fs.BoolVar(&o.requireTLS, "require-vault-tls", false, "refuse Vault addresses with plain http:// (tokens and secrets would travel in cleartext); without it each such address is logged once with a warning")
	fs.StringVar(&o.versionKeyFile, "version-key-file", "", "file with the secret key of the object versions (at least 32 bytes); providers with the same key report the same version for the same content, across restarts and nodes (the Helm chart generates one into a Secret); empty: a random key per process, so versions change on restart")
	return o
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
