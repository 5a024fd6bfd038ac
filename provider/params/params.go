// Package params parses and validates the MountRequest that the Secrets Store
// CSI Driver sends: the SecretProviderClass parameters, the pod attributes
// added by the kubelet and driver, and the default file permission.
//
// Parameter names and meanings are compatible with HashiCorp's
// vault-csi-provider; additions select the Azure identity to log in with.
package params

import (
	"cmp"
	"encoding/json"
	"os"
	"strconv"
	"strings"
)

// Attribute keys that the kubelet and the driver add to the SecretProviderClass parameters.
const (
	AttrPodName              = "csi.storage.k8s.io/pod.name"
	AttrPodNamespace         = "csi.storage.k8s.io/pod.namespace"
	AttrPodUID               = "csi.storage.k8s.io/pod.uid"
	AttrServiceAccountName   = "csi.storage.k8s.io/serviceAccount.name"
	AttrServiceAccountTokens = "csi.storage.k8s.io/serviceAccount.tokens"
)

// Auth methods.
const (
	MethodAzure      = "azure"
	MethodKubernetes = "kubernetes"
	MethodJWT        = "jwt"
)

// Azure identities.
const (
	IdentityWorkload    = "workload"
	IdentityManaged     = "managed"
	IdentityPodIdentity = "podIdentity"
)

// Defaults.
const (
	DefaultAzureResource      = "https://management.azure.com/"
	DefaultWorkloadAudience   = "api://AzureADTokenExchange"
	DefaultServiceAccountAud  = "vault"
	defaultAzureMountPath     = "azure"
	defaultKubernetesMount    = "kubernetes"
	defaultJWTMount           = "jwt"
	maxObjects                = 256
	defaultFilePermission     = 0o644
	maxFilePermission         = 0o777
	maxParameterValueBytesLog = 64
)

// Pod identifies the pod whose volume is being mounted.
type Pod struct {
	Name           string
	Namespace      string
	UID            string
	ServiceAccount string
}

// TLS holds the Vault TLS parameters.
type TLS struct {
	CACertPath     string
	CADirectory    string
	CAPEM          string
	ServerName     string
	SkipVerify     bool
	ClientCertPath string
	ClientKeyPath  string
}

// Azure holds the parameters that select and shape the Azure identity.
type Azure struct {
	Identity   string // workload, managed or podIdentity
	ClientID   string
	TenantID   string
	Resource   string // token audience the Vault azure role expects
	VMMetadata bool   // send subscription/resource group/VM names from IMDS
}

// Params is a validated MountRequest.
type Params struct {
	RoleName       string
	VaultAddress   string // empty: the provider's --vault-addr
	VaultNamespace string
	AuthMethod     string
	AuthMountPath  string
	Audience       string
	TLS            TLS
	Azure          Azure
	Objects        []Object
	Pod            Pod
	// ServiceAccountTokens maps audience to token, from the driver's tokenRequests.
	ServiceAccountTokens map[string]ServiceAccountToken
	TargetPath           string
	FilePermission       os.FileMode
}

// ServiceAccountToken is one token the driver requested for the pod.
type ServiceAccountToken struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

// Parse validates the raw fields of a MountRequest. Every error names the
// parameter at fault and how to fix it; none contains a token or secret.
func Parse(attributes, targetPath, permission string) (*Params, error) {
	var attrs map[string]string
	if err := json.Unmarshal([]byte(attributes), &attrs); err != nil {
		return nil, invalid("attributes", "not a JSON object of strings: %v", err)
	}
	p := &Params{TargetPath: targetPath}
	if err := p.parseFilePermission(permission); err != nil {
		return nil, err
	}
	p.parsePod(attrs)
	steps := []func(map[string]string) error{
		p.parseVault, p.parseTLS, p.parseAuth, p.parseAzure, p.parseTokens, p.parseObjects,
	}
	for _, step := range steps {
		if err := step(attrs); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Params) parseFilePermission(permission string) error {
	if permission == "" {
		p.FilePermission = defaultFilePermission
		return nil
	}
	mode, err := strconv.ParseUint(strings.TrimSpace(permission), 10, 32)
	if err != nil || mode > maxFilePermission {
		return invalid("permission", "%q is not a file mode (the driver sends a decimal such as \"420\" for 0644)", short(permission))
	}
	p.FilePermission = os.FileMode(mode)
	return nil
}

func (p *Params) parsePod(attrs map[string]string) {
	p.Pod = Pod{
		Name:           attrs[AttrPodName],
		Namespace:      attrs[AttrPodNamespace],
		UID:            attrs[AttrPodUID],
		ServiceAccount: attrs[AttrServiceAccountName],
	}
}

func (p *Params) parseVault(attrs map[string]string) error {
	p.RoleName = strings.TrimSpace(attrs["roleName"])
	if p.RoleName == "" {
		return invalid("roleName", "is required: set it to the Vault role to log in as (for example the role written to auth/azure/role/<name>)")
	}
	p.VaultAddress = strings.TrimSpace(attrs["vaultAddress"])
	if p.VaultAddress != "" {
		if err := checkURL(p.VaultAddress); err != nil {
			return invalid("vaultAddress", "%q %v: use a URL such as https://vault.vault.svc:8200", short(p.VaultAddress), err)
		}
	}
	p.VaultNamespace = strings.Trim(strings.TrimSpace(attrs["vaultNamespace"]), "/")
	return nil
}

func (p *Params) parseTLS(attrs map[string]string) error {
	p.TLS = TLS{
		CACertPath:     attrs["vaultCACertPath"],
		CADirectory:    attrs["vaultCADirectory"],
		CAPEM:          attrs["vaultCAPem"],
		ServerName:     attrs["vaultTLSServerName"],
		ClientCertPath: attrs["vaultTLSClientCertPath"],
		ClientKeyPath:  attrs["vaultTLSClientKeyPath"],
	}
	skip, err := parseBool(attrs, "vaultSkipTLSVerify")
	if err != nil {
		return err
	}
	p.TLS.SkipVerify = skip
	if (p.TLS.ClientCertPath == "") != (p.TLS.ClientKeyPath == "") {
		return invalid("vaultTLSClientCertPath", "and vaultTLSClientKeyPath must be set together for a Vault client certificate")
	}
	return nil
}

func (p *Params) parseAuth(attrs map[string]string) error {
	p.AuthMethod = strings.TrimSpace(attrs["vaultAuthMethod"])
	if p.AuthMethod == "" {
		p.AuthMethod = MethodAzure
		if !hasAzureParams(attrs) {
			// No Azure parameter at all: a SecretProviderClass written for
			// HashiCorp's provider, which means kubernetes auth. Keep its meaning.
			p.AuthMethod = MethodKubernetes
		}
	}
	defaultMount := map[string]string{
		MethodAzure: defaultAzureMountPath, MethodKubernetes: defaultKubernetesMount, MethodJWT: defaultJWTMount,
	}
	mount, ok := defaultMount[p.AuthMethod]
	if !ok {
		return invalid("vaultAuthMethod", "%q is not supported: use azure, kubernetes or jwt", short(p.AuthMethod))
	}
	authMount, k8sMount := strings.TrimSpace(attrs["vaultAuthMountPath"]), strings.TrimSpace(attrs["vaultKubernetesMountPath"])
	if authMount != "" && k8sMount != "" {
		return invalid("vaultAuthMountPath", "and vaultKubernetesMountPath are both set (%q and %q): set only vaultAuthMountPath (vaultKubernetesMountPath is its older name)", short(authMount), short(k8sMount))
	}
	if v := cmp.Or(authMount, k8sMount); v != "" {
		mount = v
	}
	mount = strings.TrimPrefix(strings.Trim(strings.TrimSpace(mount), "/"), "auth/")
	if mount == "" || strings.Contains(mount, "..") {
		return invalid("vaultAuthMountPath", "%q is not a Vault auth mount path (for example \"azure\" for auth/azure)", short(mount))
	}
	p.AuthMountPath = mount
	p.Audience = strings.TrimSpace(attrs["audience"])
	return nil
}

// hasAzureParams reports whether the SPC uses any Azure-specific parameter.
func hasAzureParams(attrs map[string]string) bool {
	for _, k := range []string{"azureIdentity", "clientID", "tenantID", "azureResource", "azureVMMetadata"} {
		if attrs[k] != "" {
			return true
		}
	}
	return false
}

func parseBool(attrs map[string]string, name string) (bool, error) {
	raw, ok := attrs[name]
	if !ok || strings.TrimSpace(raw) == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(strings.TrimSpace(raw))
	if err != nil {
		return false, invalid(name, "%q is not a boolean: use \"true\" or \"false\"", short(raw))
	}
	return v, nil
}

// short keeps user input in error messages readable.
func short(s string) string {
	if len(s) > maxParameterValueBytesLog {
		return s[:maxParameterValueBytesLog] + "…"
	}
	return s
}
