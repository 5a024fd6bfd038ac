package dynamic

import (
	"context"
	"errors"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// VaultLeases is the LeaseAPI of Vault's sys/leases and auth/token
// endpoints. Renewals (sys/leases/renew, auth/token/renew-self) are allowed
// by Vault's default policy; revocation needs update on
// sys/leases/revoke/<lease path>/* in the role's policy (the lease ID is in
// the URL, so a policy can allow only the role's own leases).
type VaultLeases struct{}

// Renew renews leaseID by increment and returns the TTL Vault granted.
func (VaultLeases) Renew(ctx context.Context, owner Owner, leaseID string, increment time.Duration) (time.Duration, error) {
	c, err := owner.client()
	if err != nil {
		return 0, err
	}
	s, err := c.Sys().RenewWithContext(ctx, leaseID, int(increment.Seconds()))
	if err != nil {
		return 0, err
	}
	if s == nil || s.LeaseDuration <= 0 {
		return 0, errors.New("Vault renewed the lease without a duration")
	}
	return time.Duration(s.LeaseDuration) * time.Second, nil
}

// Revoke revokes leaseID.
func (VaultLeases) Revoke(ctx context.Context, owner Owner, leaseID string) error {
	c, err := owner.client()
	if err != nil {
		return err
	}
	_, err = c.Logical().WriteWithContext(ctx, "sys/leases/revoke/"+leaseID, nil)
	return err
}

// RenewToken renews owner's token by increment.
func (VaultLeases) RenewToken(ctx context.Context, owner Owner, increment time.Duration) (time.Duration, bool, error) {
	c, err := owner.client()
	if err != nil {
		return 0, false, err
	}
	s, err := c.Auth().Token().RenewSelfWithContext(ctx, int(increment.Seconds()))
	if err != nil {
		return 0, false, err
	}
	if s == nil || s.Auth == nil || s.Auth.LeaseDuration <= 0 {
		return 0, false, errors.New("Vault renewed the token without a duration")
	}
	return time.Duration(s.Auth.LeaseDuration) * time.Second, s.Auth.Renewable, nil
}

// client is a client for owner's Vault, carrying its token and namespace.
func (o Owner) client() (*vault.Client, error) {
	if o.Client == nil {
		return nil, errors.New("no Vault client for the lease")
	}
	c, err := o.Client.Clone()
	if err != nil {
		return nil, err
	}
	c.SetToken(o.Token)
	c.SetNamespace(o.Namespace)
	return c, nil
}
