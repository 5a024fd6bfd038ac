// Package azure logs in to Vault's azure auth method with the requesting pod's
// Azure identity: workload identity (the pod's service-account token exchanged
// at Entra ID), aad-pod-identity (NMI), or — only where allowed — the node's
// managed identity.
package azure

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/allow"
	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
	"github.com/vaultazure/vault-azure-csi-provider/auth/retry"
)

// Real Azure endpoints, the defaults.
const (
	DefaultIMDSEndpoint  = "http://169.254.169.254"
	DefaultAuthorityHost = "https://login.microsoftonline.com/"
	DefaultNMIEndpoint   = "http://127.0.0.1:2579/host/token/"
)

// Config holds the provider-wide Azure settings (from flags).
type Config struct {
	IMDSEndpoint  string // IMDS base URL, default DefaultIMDSEndpoint
	AuthorityHost string // Entra ID authority host, default DefaultAuthorityHost
	NMIEndpoint   string // aad-pod-identity NMI token URL, default DefaultNMIEndpoint
	// DefaultTenantID is used when the SecretProviderClass sets no tenantID.
	DefaultTenantID string
	// NodeIdentities says which namespaces may present which of the node's
	// managed identities (none: no namespace).
	NodeIdentities allow.NodeIdentities
	// NodeIdentityVault are the Vault addresses the node's identities may
	// be presented to (the provider's --vault-addr, or its
	// --allowed-vault-addresses): a class must not make the node mint a
	// token and send it to an address of its choosing. Empty: none.
	NodeIdentityVault allow.Addresses
	// TokenProxy is the AKS token proxy identity bindings exchange at.
	TokenProxy TokenProxyConfig
	// Timeout bounds each call to an identity endpoint.
	Timeout time.Duration
	// Observer, if set, is told of every HTTP request to an identity
	// endpoint: entra, imds, imds_instance or nmi, and the status (0: none).
	Observer observe.Observer
}

// Method implements auth.Method for Vault's azure auth.
type Method struct {
	cfg        Config
	httpClient *http.Client // for NMI and instance metadata
	azTrans    policy.Transporter
	proxy      *tokenProxy // identity bindings' transport
	vm         *vmMetadataCache
}

// New returns a Method using cfg, with defaults filled in.
func New(cfg Config) (*Method, error) {
	if cfg.IMDSEndpoint == "" {
		cfg.IMDSEndpoint = DefaultIMDSEndpoint
	}
	if cfg.AuthorityHost == "" {
		cfg.AuthorityHost = DefaultAuthorityHost
	}
	if cfg.NMIEndpoint == "" {
		cfg.NMIEndpoint = DefaultNMIEndpoint
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	for name, raw := range map[string]string{"IMDS endpoint": cfg.IMDSEndpoint, "authority host": cfg.AuthorityHost, "NMI endpoint": cfg.NMIEndpoint} {
		if u, err := url.Parse(raw); err != nil || u.Host == "" {
			return nil, fmt.Errorf("azure %s %q is not a URL", name, raw)
		}
	}
	if !strings.HasPrefix(cfg.AuthorityHost, "https://") {
		return nil, fmt.Errorf("azure authority host %q must use https (Entra ID and azidentity require it)", cfg.AuthorityHost)
	}
	trans, err := newIMDSRewriter(cfg.IMDSEndpoint)
	if err != nil {
		return nil, err
	}
	var counted http.RoundTripper = trans
	if obs := cfg.Observer; obs != nil {
		counted = observe.Transport(trans, func(r *http.Request, status int) { obs.AzureRequest(endpointKind(r), status) })
	}
	proxy, err := newTokenProxy(cfg.TokenProxy, cfg.Timeout, func(rt http.RoundTripper) http.RoundTripper {
		if obs := cfg.Observer; obs != nil {
			return observe.Transport(rt, func(_ *http.Request, status int) { obs.AzureRequest("token_proxy", status) })
		}
		return rt
	})
	if err != nil {
		return nil, err
	}
	m := &Method{
		cfg:        cfg,
		httpClient: &http.Client{Timeout: cfg.Timeout, Transport: counted},
		azTrans:    &http.Client{Transport: counted},
		proxy:      proxy,
	}
	m.vm = &vmMetadataCache{method: m}
	return m, nil
}

// Principal names the Azure identity the pod logs in as, and enforces the
// node-identity allowlist.
func (m *Method) Principal(req *auth.Request) (string, error) {
	a := paramsOf(req)
	switch a.Identity {
	case IdentityWorkload, IdentityBinding:
		tenant, err := m.tenant(req)
		if err != nil {
			return "", err
		}
		if req.Pod.Namespace == "" || req.Pod.ServiceAccount == "" {
			return "", configError(fmt.Sprintf("azureIdentity %s needs the pod's namespace and service account in the mount request: set podInfoOnMount: true on the CSIDriver", a.Identity))
		}
		return fmt.Sprintf("%s:%s/%s as %s/%s", a.Identity, tenant, a.ClientID, req.Pod.Namespace, req.Pod.ServiceAccount), nil
	case IdentityManaged:
		if err := m.nodeIdentityAllowed(req, a.ClientID); err != nil {
			return "", err
		}
		return "managed:" + cmp.Or(a.ClientID, "system-assigned"), nil
	case IdentityPodIdentity:
		if req.Pod.Namespace == "" || req.Pod.Name == "" {
			return "", configError("podIdentity needs the pod's name and namespace in the mount request: set podInfoOnMount: true on the CSIDriver")
		}
		// By UID: a later pod of the same name is another pod.
		return fmt.Sprintf("podIdentity:%s/%s/%s:%s", req.Pod.Namespace, req.Pod.Name, req.Pod.UID, cmp.Or(a.ClientID, "default")), nil
	}
	return "", configError(fmt.Sprintf("azureIdentity %q is not supported: use workload, identityBinding, managed or podIdentity", a.Identity))
}

// ProvenByToken: workload identity and identity bindings are granted for
// the service account's own token (by Entra ID, or by the AKS token proxy
// under the cluster's RBAC); the node's managed identity and an
// aad-pod-identity binding are lent by the host the provider runs on.
func (m *Method) ProvenByToken(req *auth.Request) (bool, string) {
	switch paramsOf(req).Identity {
	case IdentityWorkload, IdentityBinding:
		return true, ""
	case IdentityManaged:
		return false, "the managed identity of the node the provider runs on"
	default:
		return false, "the aad-pod-identity binding of the pod named in the request"
	}
}

// Check verifies locally the credential the identity logs in with: for
// workload identity the pod's service-account token (Request.TokenFor);
// the node's and aad-pod-identity's identities need none from the driver.
func (m *Method) Check(req *auth.Request) error {
	aud := m.TokenAudience(req)
	if aud == "" {
		return nil
	}
	_, err := req.TokenFor(aud)
	return err
}

// LoginData obtains an Azure access token for the identity and returns the
// azure login body {role, jwt[, VM metadata]}.
func (m *Method) LoginData(ctx context.Context, req *auth.Request) (map[string]any, error) {
	if _, err := m.Principal(req); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	var token string
	var err error
	a := paramsOf(req)
	switch a.Identity {
	case IdentityWorkload:
		token, err = m.workloadToken(ctx, req)
	case IdentityBinding:
		token, err = m.bindingToken(ctx, req)
	case IdentityManaged:
		token, err = m.managedToken(ctx, req)
	case IdentityPodIdentity:
		token, err = m.podIdentityToken(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	if err := checkAudience(token, a.Resource); err != nil {
		return nil, err
	}
	data := map[string]any{"role": req.Role, "jwt": token}
	if a.VMMetadata {
		if err := m.vm.addTo(ctx, data); err != nil {
			return nil, err
		}
	}
	return data, nil
}

func (m *Method) tenant(req *auth.Request) (string, error) {
	if t := cmp.Or(paramsOf(req).TenantID, m.cfg.DefaultTenantID); t != "" {
		return t, nil
	}
	return "", configError(fmt.Sprintf("azureIdentity %s needs a tenant: set the tenantID parameter, or start the provider with --azure-tenant-id", paramsOf(req).Identity))
}

// nodeIdentityAllowed enforces the admin's rules for the node's identity:
// this namespace, this identity, this Vault address.
func (m *Method) nodeIdentityAllowed(req *auth.Request, clientID string) error {
	ns, rules := req.Pod.Namespace, m.cfg.NodeIdentities
	switch {
	case !rules.Namespace(ns):
		return configError(fmt.Sprintf(
			"azureIdentity %q logs in as the node's managed identity, which every pod on the node could use; "+
				"this provider allows it only for namespaces in --allow-node-identity (now %s), and namespace %q is not one: "+
				"use azureIdentity workload, or ask the cluster admin to add the namespace",
			IdentityManaged, cmp.Or(rules.String(), "empty"), ns))
	case !rules.Allows(ns, clientID):
		return configError(fmt.Sprintf(
			"namespace %q may present the node's managed identities %s (--allow-node-identity), not %s: set clientID to one of them, or ask the cluster admin",
			ns, strings.Join(rules.IdentitiesOf(ns), ", "), cmp.Or(clientID, allow.SystemAssigned+" (no clientID)")))
	case !m.cfg.NodeIdentityVault.Lists(req.VaultAddress):
		return configError(fmt.Sprintf(
			"the node's managed identity is presented only to the Vault addresses the provider trusts (--vault-addr, or --allowed-vault-addresses: %s), and vaultAddress %q is not one: "+
				"leave vaultAddress unset, or ask the cluster admin to allow it",
			cmp.Or(strings.Join(m.cfg.NodeIdentityVault, ", "), "none"), retry.Redact(req.VaultAddress)))
	}
	return nil
}

// checkAudience compares the token's aud with what the Vault role expects, to
// catch the trailing-slash trap before Vault refuses the login obscurely.
func checkAudience(token, resource string) error {
	claims, err := auth.Claims(token)
	if err != nil {
		return credentialError(fmt.Errorf("the Azure access token is not a JWT (%v)", err))
	}
	aud, _ := claims["aud"].(string)
	if aud != resource {
		return credentialError(fmt.Errorf(
			"the Azure access token has aud %q but azureResource is %q: Vault's azure auth compares them exactly (mind the trailing slash); set azureResource to the resource in auth/<mount>/config",
			aud, resource))
	}
	return nil
}

// scopeFor turns a resource into the v2 scope that yields exactly that
// audience: "https://management.azure.com/" becomes
// "https://management.azure.com//.default", which Entra ID and azidentity
// turn back into the resource with its trailing slash.
func scopeFor(resource string) string {
	return resource + "/.default"
}

func configError(msg string) error {
	return &auth.Error{Kind: auth.KindConfig, Err: fmt.Errorf("%s", msg)}
}

func credentialError(err error) error {
	return &auth.Error{Kind: auth.KindCredential, Err: err}
}
