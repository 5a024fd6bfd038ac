package vaultfront

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/helper/pluginidentityutil"
	"github.com/hashicorp/vault/sdk/helper/pluginutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/rotation"
)

// errRotationUnsupported is returned to plugins that try to register a root
// credential rotation job: like Vault community edition, the front has no
// rotation manager.
var errRotationUnsupported = errors.New("automated root rotation is not supported by vaultfront")

// systemView is the logical.SystemView every mount gets: sane lease TTLs, a
// Vault version, and no-ops or community-edition answers for the enterprise
// hooks that the plugins call (DeregisterRotationJob is called by the azure
// plugin on every config write).
type systemView struct {
	logical.StaticSystemView
}

// newSystemView returns the system view of a mount with these lease TTLs.
func newSystemView(defaultTTL, maxTTL time.Duration) systemView {
	version, _, _ := strings.Cut(Version, "-")
	return systemView{StaticSystemView: logical.StaticSystemView{
		DefaultLeaseTTLVal: defaultTTL,
		MaxLeaseTTLVal:     maxTTL,
		VersionString:      version,
		PluginEnvironment: &logical.PluginEnvironment{
			VaultVersion:           version,
			VaultVersionPrerelease: "front",
		},
	}}
}

// DeregisterRotationJob is a no-op: there is never a job to deregister.
func (systemView) DeregisterRotationJob(context.Context, *rotation.RotationJobDeregisterRequest) error {
	return nil
}

// RegisterRotationJob refuses, as a community-edition Vault does.
func (systemView) RegisterRotationJob(context.Context, *rotation.RotationJobConfigureRequest) (string, error) {
	return "", errRotationUnsupported
}

// RegisterRotationJobWithResponse refuses, as a community-edition Vault does.
func (systemView) RegisterRotationJobWithResponse(context.Context, *rotation.RotationJobConfigureRequest) (*rotation.RotationInfo, error) {
	return nil, errRotationUnsupported
}

// GetRotationInformation refuses: there is no rotation manager.
func (systemView) GetRotationInformation(context.Context, *rotation.RotationInfoRequest) (*rotation.RotationInfoResponse, error) {
	return nil, errRotationUnsupported
}

// GenerateIdentityToken answers like community edition, which the azure
// plugin turns into a clear 400 when identity_token_audience is configured.
func (systemView) GenerateIdentityToken(context.Context, *pluginutil.IdentityTokenRequest) (*pluginutil.IdentityTokenResponse, error) {
	return nil, pluginidentityutil.ErrPluginWorkloadIdentityUnsupported
}
