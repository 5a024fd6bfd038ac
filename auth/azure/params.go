package azure

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/auth/keys"
)

// Identity kinds, as in the azureIdentity parameter.
const (
	IdentityWorkload    = "workload"
	IdentityManaged     = "managed"
	IdentityPodIdentity = "podIdentity"
	// IdentityBinding is an AKS identity binding: workload identity whose
	// token exchange goes through the cluster's AKS token proxy.
	IdentityBinding = "identityBinding"
)

// DefaultResource is the azureResource when the SecretProviderClass sets none.
const DefaultResource = "https://management.azure.com/"

// WorkloadAudience is the audience of the service-account token that
// workload identity exchanges at Entra ID, unless the audience parameter
// says otherwise.
const WorkloadAudience = "api://AzureADTokenExchange"

// Params are the SecretProviderClass parameters that select and shape the
// Azure identity; an azure login's auth.Request.Params is a *Params.
type Params struct {
	Identity   string // workload, identityBinding, managed or podIdentity
	ClientID   string
	TenantID   string
	Resource   string // token audience the Vault azure role expects
	VMMetadata bool   // send subscription/resource group/VM names from IMDS
}

// parameterNames are the parameters Params is read from.
var parameterNames = []string{"azureIdentity", "useAzureTokenProxy", "clientID", "tenantID", "azureResource", "azureVMMetadata"}

// paramsOf returns req's Azure parameters (zero if it has none).
func paramsOf(req *auth.Request) Params {
	if p, ok := req.Params.(*Params); ok && p != nil {
		return *p
	}
	return Params{}
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ParameterNames lists the Azure parameters.
func (m *Method) ParameterNames() []string { return parameterNames }

// ParseParameters reads and validates the Azure parameters, with defaults:
// identity workload, resource DefaultResource.
func (m *Method) ParseParameters(attrs map[string]string) (any, error) {
	a := Params{
		Identity: strings.TrimSpace(attrs["azureIdentity"]),
		ClientID: strings.TrimSpace(attrs["clientID"]),
		TenantID: strings.TrimSpace(attrs["tenantID"]),
		Resource: strings.TrimSpace(attrs["azureResource"]),
	}
	vm, err := auth.BoolParameter(attrs, "azureVMMetadata")
	if err != nil {
		return nil, err
	}
	a.VMMetadata = vm
	proxy, err := auth.BoolParameter(attrs, "useAzureTokenProxy")
	if err != nil {
		return nil, err
	}
	switch {
	case proxy && a.Identity != "" && a.Identity != IdentityBinding:
		return nil, auth.InvalidParameter("useAzureTokenProxy", "\"true\" selects azureIdentity %s, but azureIdentity is %q: set one of them", IdentityBinding, auth.Short(a.Identity))
	case proxy:
		a.Identity = IdentityBinding
	case a.Identity == "":
		a.Identity = IdentityWorkload
	}
	if a.Resource == "" {
		a.Resource = DefaultResource
	}
	switch a.Identity {
	case IdentityWorkload, IdentityBinding, IdentityManaged, IdentityPodIdentity:
	default:
		return nil, auth.InvalidParameter("azureIdentity", "%q is not supported: use workload, identityBinding, managed or podIdentity", auth.Short(a.Identity))
	}
	if a.ClientID != "" && !guidPattern.MatchString(a.ClientID) {
		return nil, auth.InvalidParameter("clientID", "%q is not a GUID: use the client ID of the managed identity or app registration", auth.Short(a.ClientID))
	}
	if a.TenantID != "" && !guidPattern.MatchString(a.TenantID) && !isDomainName(a.TenantID) {
		return nil, auth.InvalidParameter("tenantID", "%q is not a tenant GUID or domain name", auth.Short(a.TenantID))
	}
	if a.Identity == IdentityWorkload && a.ClientID == "" {
		return nil, auth.InvalidParameter("clientID", "is required for azureIdentity workload: set it to the client ID of the user-assigned managed identity (or app) that has a federated credential for this pod's service account")
	}
	if a.Identity == IdentityBinding && a.ClientID == "" {
		return nil, auth.InvalidParameter("clientID", "is required for azureIdentity identityBinding: set it to the client ID of the user-assigned managed identity bound to this cluster (az aks identity-binding create)")
	}
	if err := checkResourceURI(a.Resource); err != nil {
		return nil, auth.InvalidParameter("azureResource", "%q %v: set it to the resource configured in Vault's auth/azure/config (default %s)", auth.Short(a.Resource), err, DefaultResource)
	}
	if a.VMMetadata && a.Identity != IdentityManaged {
		return nil, auth.InvalidParameter("azureVMMetadata", "applies only to azureIdentity managed (the node's identity); a %s identity has no VM to describe", a.Identity)
	}
	return &a, nil
}

// CacheKey names every field of the parameters, for the token cache key
// (auth.KeyedParams): a Mount builds it without reflection or JSON.
func (p *Params) CacheKey() string {
	if p == nil {
		return ""
	}
	return keys.Join(p.Identity, p.ClientID, p.TenantID, p.Resource, strconv.FormatBool(p.VMMetadata))
}

// TokenAudience is the audience of the service-account token workload
// identity or an identity binding exchanges (the audience parameter, else
// WorkloadAudience or IdentityBindingAudience); the node's and
// aad-pod-identity's identities present none.
func (m *Method) TokenAudience(req *auth.Request) string {
	switch paramsOf(req).Identity {
	case IdentityWorkload:
		if req.Audience != "" {
			return req.Audience
		}
		return WorkloadAudience
	case IdentityBinding:
		if req.Audience != "" {
			return req.Audience
		}
		return IdentityBindingAudience
	}
	return ""
}

func isDomainName(s string) bool {
	return strings.Contains(s, ".") && !strings.ContainsAny(s, "/:?#@ ")
}

// checkResourceURI accepts an Entra resource: an https URL or an application
// ID URI such as api://<guid>.
func checkResourceURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return fmt.Errorf("is not a resource URI (https://… or api://…)")
	}
	if strings.ContainsAny(raw, " \t\n") {
		return fmt.Errorf("contains white space")
	}
	return nil
}
