// Package params parses and validates the MountRequest that the Secrets Store
// CSI Driver sends: the SecretProviderClass parameters, the pod attributes
// added by the kubelet and driver, and the default file permission.
//
// It owns the parameters every Mount has (Vault address and TLS, role, auth
// mount, objects, the pod and its tokens); each auth method parses its own
// (auth.Method.ParseParameters). Parameter names and meanings are
// compatible with HashiCorp's vault-csi-provider; additions select the
// Azure identity to log in with.
package params

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
)

// Attribute keys that the kubelet and the driver add to the SecretProviderClass parameters.
const (
	AttrPodName              = "csi.storage.k8s.io/pod.name"
	AttrPodNamespace         = "csi.storage.k8s.io/pod.namespace"
	AttrPodUID               = "csi.storage.k8s.io/pod.uid"
	AttrServiceAccountName   = "csi.storage.k8s.io/serviceAccount.name"
	AttrServiceAccountTokens = "csi.storage.k8s.io/serviceAccount.tokens"
)

const (
	maxObjects            = 256
	defaultFilePermission = 0o644
	maxFilePermission     = 0o777
)

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

// Params is a validated MountRequest.
type Params struct {
	RoleName       string
	VaultAddress   string // empty: the provider's --vault-addr
	VaultNamespace string
	AuthMethod     string
	AuthMountPath  string
	Audience       string
	// MethodParams are the auth method's own parameters (auth.Request.Params).
	MethodParams any
	TLS          TLS
	Objects      []Object
	Pod          auth.Pod
	// ServiceAccountTokens maps audience to token, from the driver's tokenRequests.
	ServiceAccountTokens map[string]auth.ServiceAccountToken
	FilePermission       os.FileMode
	// Class is a digest of the SecretProviderClass's own parameters (every
	// attribute but the csi.storage.k8s.io/ ones the kubelet, the driver or
	// the sync controller add): equal for two requests of the same class,
	// whoever sends them.
	Class string
}

// Parse validates the raw fields of a MountRequest, the auth method's own
// parameters by the method among methods that it names. Every error names
// the parameter at fault and how to fix it; none contains a token or secret.
func Parse(attributes, permission string, methods auth.Methods) (*Params, error) {
	var attrs map[string]string
	if err := json.Unmarshal([]byte(attributes), &attrs); err != nil {
		return nil, invalid("attributes", "not a JSON object of strings: %v", err)
	}
	p := &Params{}
	if err := p.parseFilePermission(permission); err != nil {
		return nil, err
	}
	p.parsePod(attrs)
	p.Class = classDigest(attrs)
	steps := []func(map[string]string) error{
		p.parseVault, p.parseTLS, func(attrs map[string]string) error { return p.parseAuth(attrs, methods) }, p.parseTokens, p.parseObjects,
	}
	for _, step := range steps {
		if err := step(attrs); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// callerPrefix marks the attributes added by the caller, not the class.
const callerPrefix = "csi.storage.k8s.io/"

func classDigest(attrs map[string]string) string {
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		if !strings.HasPrefix(k, callerPrefix) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	h := sha256.New()
	for _, k := range names {
		// Length-prefixed: no two different classes hash the same input.
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(attrs[k]), attrs[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
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
	p.Pod = auth.Pod{
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
	skip, err := auth.BoolParameter(attrs, "vaultSkipTLSVerify")
	if err != nil {
		return err
	}
	p.TLS.SkipVerify = skip
	if (p.TLS.ClientCertPath == "") != (p.TLS.ClientKeyPath == "") {
		return invalid("vaultTLSClientCertPath", "and vaultTLSClientKeyPath must be set together for a Vault client certificate")
	}
	return nil
}

func (p *Params) parseAuth(attrs map[string]string, methods auth.Methods) error {
	p.AuthMethod = strings.TrimSpace(attrs["vaultAuthMethod"])
	if p.AuthMethod == "" {
		p.AuthMethod = defaultMethod(attrs, methods)
	}
	method, ok := methods[p.AuthMethod]
	if !ok {
		return invalid("vaultAuthMethod", "%q is not supported: use %s", short(p.AuthMethod), oneOf(methods.Names()))
	}
	authMount, k8sMount := strings.TrimSpace(attrs["vaultAuthMountPath"]), strings.TrimSpace(attrs["vaultKubernetesMountPath"])
	if authMount != "" && k8sMount != "" {
		return invalid("vaultAuthMountPath", "and vaultKubernetesMountPath are both set (%q and %q): set only vaultAuthMountPath (vaultKubernetesMountPath is its older name)", short(authMount), short(k8sMount))
	}
	// Without a mount path, the method's name: where vault auth enable mounts it.
	mount := cmp.Or(authMount, k8sMount, p.AuthMethod)
	mount = strings.TrimPrefix(strings.Trim(strings.TrimSpace(mount), "/"), "auth/")
	if mount == "" || strings.Contains(mount, "..") {
		return invalid("vaultAuthMountPath", "%q is not a Vault auth mount path (for example \"azure\" for auth/azure)", short(mount))
	}
	p.AuthMountPath = mount
	p.Audience = strings.TrimSpace(attrs["audience"])
	mp, err := method.ParseParameters(attrs)
	if err != nil {
		return err
	}
	p.MethodParams = mp
	return nil
}

// defaultMethod is the method of a SecretProviderClass without
// vaultAuthMethod: the first (by name) whose own parameters it sets, else
// kubernetes — a SecretProviderClass written for HashiCorp's provider,
// whose meaning is kept.
func defaultMethod(attrs map[string]string, methods auth.Methods) string {
	for _, name := range methods.Names() {
		for _, k := range methods[name].ParameterNames() {
			if attrs[k] != "" {
				return name
			}
		}
	}
	return auth.MethodKubernetes
}

// oneOf lists names as "a, b or c".
func oneOf(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// short keeps user input in error messages readable.
func short(s string) string { return auth.Short(s) }

// Defaults are the provider-wide Vault settings a platform team sets once
// (--vault-namespace, --vault-tls-*), for classes that use the provider's
// own Vault (--vault-addr).
type Defaults struct {
	Namespace string
	TLS       TLS
}

// IsZero reports whether d sets nothing.
func (d Defaults) IsZero() bool { return d == Defaults{} }

// WithDefaults returns p with d where p sets nothing of its own: the
// namespace; the CA (file, directory and PEM count as one setting); the
// TLS server name; the client certificate and key (a pair). p itself is
// not changed (Params may be shared); without defaults it is returned.
func (p *Params) WithDefaults(d Defaults) *Params {
	if d.IsZero() {
		return p
	}
	c := *p
	if c.VaultNamespace == "" {
		c.VaultNamespace = strings.Trim(d.Namespace, "/")
	}
	if c.TLS.CACertPath == "" && c.TLS.CADirectory == "" && c.TLS.CAPEM == "" {
		c.TLS.CACertPath, c.TLS.CADirectory, c.TLS.CAPEM = d.TLS.CACertPath, d.TLS.CADirectory, d.TLS.CAPEM
	}
	if c.TLS.ServerName == "" {
		c.TLS.ServerName = d.TLS.ServerName
	}
	if c.TLS.ClientCertPath == "" && c.TLS.ClientKeyPath == "" {
		c.TLS.ClientCertPath, c.TLS.ClientKeyPath = d.TLS.ClientCertPath, d.TLS.ClientKeyPath
	}
	return &c
}
