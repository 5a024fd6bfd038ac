// Package azureemu emulates the Azure identity endpoints a Vault Azure auth
// client meets on an AKS node, on 127.0.0.1 only:
//
//   - IMDS (managed identity tokens and instance metadata),
//   - Microsoft Entra ID (OIDC discovery, JWKS, instance discovery and the
//     v1/v2 token endpoints with client secrets and federated workload-identity
//     client assertions),
//   - the aad-pod-identity NMI host endpoint,
//   - the Azure Resource Manager reads that vault-plugin-auth-azure v0.24.0
//     makes when a role binds subscriptions, resource groups or scale sets.
//
// Access tokens are minted the way Entra ID mints v1 access tokens and the way
// Vault's azure auth method checks them (RS256, iss https://sts.windows.net/<tenant>/,
// aud = the requested resource verbatim, oid/appid/tid/xms_mirid claims).
// Every endpoint counts its requests and can have faults injected.
package azureemu

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
	"github.com/vaultazure/vault-azure-csi-provider/test/testca"
)

// Host names the emulator answers for when reached through a proxy.
const (
	EntraHost = "login.microsoftonline.com"
	ARMHost   = "management.azure.com"
)

// Config configures an Emulator.
type Config struct {
	// TenantID is the Entra tenant (a GUID) that issues every token.
	TenantID string
	// CA issues the certificate of the HTTPS listener (AuthorityURL).
	CA *testca.CA
	// ClusterIssuer is the Kubernetes service-account issuer whose tokens are
	// accepted as client assertions by identities with a federated credential.
	ClusterIssuer *cluster.Issuer
}

// Identity is a user-assigned managed identity or an app registration.
type Identity struct {
	ClientID   string // application (client) id: appid claim
	ObjectID   string // service principal object id: oid claim, what Vault binds
	ResourceID string // ARM id of a managed identity: xms_mirid claim (empty for apps)
	Name       string
}

// VM is the node that IMDS describes and ARM returns.
type VM struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string // VM name (for a scale-set instance, e.g. "aks-pool-vmss_0")
	VMSSName       string // set for a (uniform) scale-set instance
	ResourceID     string // derived when empty
	Location       string // default "westeurope"
	VMID           string // derived when empty
	// SystemIdentity is the system-assigned identity; its ResourceID is
	// derived (the VM's or scale set's ARM id) when empty.
	SystemIdentity *Identity
	// UserAssigned lists client ids of identities (see AddIdentity) attached
	// to the node.
	UserAssigned []string
}

type fedCred struct{ issuer, subject string }

// Emulator is a running Azure identity emulator. It is safe for concurrent use.
type Emulator struct {
	observer observerSlot
	tenant   string
	ca       *testca.CA
	cluster  *cluster.Issuer
	keys     signingKeys

	plainLn, tlsLn   net.Listener
	plainSrv, tlsSrv *http.Server
	entra, arm, node http.Handler

	mu         sync.RWMutex
	identities map[string]Identity // by client id
	secrets    map[string]string   // client id -> secret
	feds       map[string][]fedCred
	pods       map[string][]string // "ns/pod" -> client ids
	vm         *VM

	stats stats
}

// New starts an emulator with an HTTP listener (IMDS, NMI) and an HTTPS
// listener (Entra ID, ARM) on 127.0.0.1.
func New(cfg Config) (*Emulator, error) {
	if cfg.TenantID == "" || cfg.CA == nil {
		return nil, errors.New("azureemu: TenantID and CA are required")
	}
	keys, err := newSigningKeys()
	if err != nil {
		return nil, err
	}
	e := &Emulator{
		tenant: cfg.TenantID, ca: cfg.CA, cluster: cfg.ClusterIssuer, keys: keys,
		identities: map[string]Identity{}, secrets: map[string]string{},
		feds: map[string][]fedCred{}, pods: map[string][]string{},
		stats: newStats(),
	}
	e.entra, e.arm, e.node = e.entraMux(), e.armMux(), e.nodeMux()
	if err := e.listen(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Emulator) listen() error {
	tlsConf, err := e.ca.ServerTLSConfig("127.0.0.1", "localhost", EntraHost, ARMHost)
	if err != nil {
		return fmt.Errorf("azureemu: TLS config: %w", err)
	}
	e.plainLn, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("azureemu: listen (IMDS/NMI): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = e.plainLn.Close()
		return fmt.Errorf("azureemu: listen (Entra/ARM): %w", err)
	}
	e.tlsLn = tls.NewListener(ln, tlsConf)
	e.plainSrv = &http.Server{Handler: e.observed(e.node), ReadHeaderTimeout: 30 * time.Second}
	e.tlsSrv = &http.Server{Handler: e.observed(e.Handler()), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = e.plainSrv.Serve(e.plainLn) }()
	go func() { _ = e.tlsSrv.Serve(e.tlsLn) }()
	return nil
}

// Close stops both listeners.
func (e *Emulator) Close() error {
	if err := errors.Join(e.plainSrv.Close(), e.tlsSrv.Close()); err != nil {
		return fmt.Errorf("azureemu: close: %w", err)
	}
	return nil
}

// TenantID returns the tenant the emulator issues tokens for.
func (e *Emulator) TenantID() string { return e.tenant }

// IMDSURL returns the base URL ("http://127.0.0.1:port") serving
// /metadata/identity/oauth2/token and /metadata/instance.
func (e *Emulator) IMDSURL() string { return "http://" + e.plainLn.Addr().String() }

// NMIURL returns the aad-pod-identity NMI token URL
// ("http://127.0.0.1:port/host/token/").
func (e *Emulator) NMIURL() string { return e.IMDSURL() + "/host/token/" }

// AuthorityURL returns the Entra ID authority host ("https://127.0.0.1:port/"),
// usable as azidentity's AuthorityHost. Its certificate comes from Config.CA.
func (e *Emulator) AuthorityURL() string { return "https://" + e.tlsLn.Addr().String() + "/" }

// ARMURL returns an ARM endpoint on the HTTPS listener ("https://127.0.0.1:port"),
// for clients that can be pointed at a custom Resource Manager endpoint.
func (e *Emulator) ARMURL() string { return "https://" + e.tlsLn.Addr().String() }

// Handler serves Entra ID for requests whose Host is login.microsoftonline.com
// (or an alias) and ARM for management.azure.com; on other hosts it routes by
// path (/subscriptions/... and /providers/... to ARM). Use it behind tlsproxy.
func (e *Emulator) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		switch {
		case host == ARMHost:
			e.arm.ServeHTTP(w, r)
		case isEntraHost(host):
			e.entra.ServeHTTP(w, r)
		case isARMPath(r.URL.Path):
			e.arm.ServeHTTP(w, r)
		default:
			e.entra.ServeHTTP(w, r)
		}
	})
}

func isEntraHost(host string) bool {
	switch host {
	case EntraHost, "login.windows.net", "login.microsoft.com", "sts.windows.net":
		return true
	}
	return false
}

// AddIdentity registers (or replaces) an identity, keyed by client id.
func (e *Emulator) AddIdentity(id Identity) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.identities[id.ClientID] = id
}

// SetVM sets the node that IMDS describes and ARM serves. Its system
// identity, if any, is registered as an identity too.
func (e *Emulator) SetVM(vm VM) {
	if vm.Location == "" {
		vm.Location = "westeurope"
	}
	if vm.ResourceID == "" {
		vm.ResourceID = vm.defaultResourceID()
	}
	if vm.VMID == "" {
		vm.VMID = cluster.StableUID("vm", vm.SubscriptionID, vm.ResourceID)
	}
	if vm.SystemIdentity != nil {
		sys := *vm.SystemIdentity
		if sys.ResourceID == "" {
			sys.ResourceID = vm.computeRID()
		}
		vm.SystemIdentity = &sys
	}
	vm.UserAssigned = append([]string(nil), vm.UserAssigned...)
	e.mu.Lock()
	defer e.mu.Unlock()
	if vm.SystemIdentity != nil {
		e.identities[vm.SystemIdentity.ClientID] = *vm.SystemIdentity
	}
	e.vm = &vm
}

// computeRID is the ARM id of the compute resource that owns the system
// identity, in the form Azure puts into xms_mirid / xms_az_rid claims.
func (vm VM) computeRID() string {
	if vm.VMSSName != "" {
		return fmt.Sprintf("/subscriptions/%s/resourcegroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s",
			vm.SubscriptionID, vm.ResourceGroup, vm.VMSSName)
	}
	return fmt.Sprintf("/subscriptions/%s/resourcegroups/%s/providers/Microsoft.Compute/virtualMachines/%s",
		vm.SubscriptionID, vm.ResourceGroup, vm.Name)
}

// defaultResourceID is the VM's ARM id as IMDS reports it.
func (vm VM) defaultResourceID() string {
	base := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute", vm.SubscriptionID, vm.ResourceGroup)
	if vm.VMSSName != "" {
		instance := "0"
		if i := strings.LastIndex(vm.Name, "_"); i >= 0 {
			instance = vm.Name[i+1:]
		}
		return base + "/virtualMachineScaleSets/" + vm.VMSSName + "/virtualMachines/" + instance
	}
	return base + "/virtualMachines/" + vm.Name
}

// AddFederatedCredential lets the identity with clientID accept
// service-account tokens from issuer with this exact (case-sensitive) subject
// and the audience api://AzureADTokenExchange as client assertions.
func (e *Emulator) AddFederatedCredential(clientID, issuer, subject string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.feds[clientID] = append(e.feds[clientID], fedCred{issuer: issuer, subject: subject})
}

// AddPodIdentity binds the identity clientID to a pod for the NMI endpoint.
func (e *Emulator) AddPodIdentity(namespace, pod, clientID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := namespace + "/" + pod
	e.pods[key] = append(e.pods[key], clientID)
}

// AddClientSecret registers a client secret for clientID (an app
// registration, e.g. the Vault azure plugin's own ARM credentials). If the
// client id is unknown, an app identity with a derived object id is added.
func (e *Emulator) AddClientSecret(clientID, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets[clientID] = secret
	if _, ok := e.identities[clientID]; !ok {
		e.identities[clientID] = Identity{
			ClientID: clientID, ObjectID: cluster.StableUID("sp", e.tenant, clientID), Name: "app-" + clientID,
		}
	}
}

func (e *Emulator) identity(clientID string) (Identity, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	id, ok := e.identities[clientID]
	return id, ok
}

func (e *Emulator) currentVM() *VM {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.vm == nil {
		return nil
	}
	vm := *e.vm
	return &vm
}

// attachedIdentities returns the user-assigned identities attached to vm.
func (e *Emulator) attachedIdentities(vm *VM) []Identity {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []Identity
	for _, cid := range vm.UserAssigned {
		if id, ok := e.identities[cid]; ok {
			out = append(out, id)
		}
	}
	return out
}

// allIdentities returns a snapshot of every registered identity.
func (e *Emulator) allIdentities() []Identity {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]Identity, 0, len(e.identities))
	for _, id := range e.identities {
		out = append(out, id)
	}
	return out
}
