package params

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (p *Params) parseAzure(attrs map[string]string) error {
	a := Azure{
		Identity: strings.TrimSpace(attrs["azureIdentity"]),
		ClientID: strings.TrimSpace(attrs["clientID"]),
		TenantID: strings.TrimSpace(attrs["tenantID"]),
		Resource: strings.TrimSpace(attrs["azureResource"]),
	}
	vm, err := parseBool(attrs, "azureVMMetadata")
	if err != nil {
		return err
	}
	a.VMMetadata = vm
	if a.Identity == "" {
		a.Identity = IdentityWorkload
	}
	if a.Resource == "" {
		a.Resource = DefaultAzureResource
	}
	p.Azure = a
	if p.AuthMethod != MethodAzure {
		return nil
	}
	switch a.Identity {
	case IdentityWorkload, IdentityManaged, IdentityPodIdentity:
	default:
		return invalid("azureIdentity", "%q is not supported: use workload, managed or podIdentity", short(a.Identity))
	}
	if a.ClientID != "" && !guidPattern.MatchString(a.ClientID) {
		return invalid("clientID", "%q is not a GUID: use the client ID of the managed identity or app registration", short(a.ClientID))
	}
	if a.TenantID != "" && !guidPattern.MatchString(a.TenantID) && !isDomainName(a.TenantID) {
		return invalid("tenantID", "%q is not a tenant GUID or domain name", short(a.TenantID))
	}
	if a.Identity == IdentityWorkload && a.ClientID == "" {
		return invalid("clientID", "is required for azureIdentity workload: set it to the client ID of the user-assigned managed identity (or app) that has a federated credential for this pod's service account")
	}
	if err := checkResourceURI(a.Resource); err != nil {
		return invalid("azureResource", "%q %v: set it to the resource configured in Vault's auth/azure/config (default %s)", short(a.Resource), err, DefaultAzureResource)
	}
	if a.VMMetadata && a.Identity != IdentityManaged {
		return invalid("azureVMMetadata", "applies only to azureIdentity managed (the node's identity); a %s identity has no VM to describe", a.Identity)
	}
	return nil
}

func isDomainName(s string) bool {
	return strings.Contains(s, ".") && !strings.ContainsAny(s, "/:?#@ ")
}

// parseTokens reads the service-account tokens that the driver requested for
// the pod (CSIDriver tokenRequests).
func (p *Params) parseTokens(attrs map[string]string) error {
	raw := attrs[AttrServiceAccountTokens]
	if raw == "" {
		return nil
	}
	tokens := map[string]ServiceAccountToken{}
	if err := json.Unmarshal([]byte(raw), &tokens); err != nil {
		return invalid(AttrServiceAccountTokens, "is not the JSON the driver sends ({\"<audience>\":{\"token\":\"…\",\"expirationTimestamp\":\"…\"}}): %s", jsonErrorKind(err))
	}
	for aud, t := range tokens {
		if t.Token == "" {
			return invalid(AttrServiceAccountTokens, "the token for audience %q is empty", short(aud))
		}
	}
	p.ServiceAccountTokens = tokens
	return nil
}

// jsonErrorKind describes a JSON error without echoing the input (which may
// contain a token).
func jsonErrorKind(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		return fmt.Sprintf("wrong type at %q (want %s)", e.Field, e.Type)
	default:
		return "malformed JSON"
	}
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must start with https:// or http://")
	}
	if u.Host == "" {
		return fmt.Errorf("has no host")
	}
	return nil
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
