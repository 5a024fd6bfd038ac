package auth

import (
	"context"
	"time"

	"k8s.io/klog/v2"
)

// revoker revokes discarded Vault tokens with auth/token/revoke-self, best
// effort: at most a few at a time, each within a timeout; when all slots are
// busy, or the token has expired anyway, it does nothing.
type revoker struct {
	slots   chan struct{}
	timeout time.Duration
}

func newRevoker() *revoker {
	return &revoker{slots: make(chan struct{}, 4), timeout: 10 * time.Second}
}

// revoke revokes t after delay (0: now), in the background.
func (r *revoker) revoke(t *cachedToken, delay time.Duration) {
	if t == nil || t.client == nil {
		return
	}
	if delay <= 0 {
		go r.run(t)
		return
	}
	time.AfterFunc(delay, func() { r.run(t) })
}

func (r *revoker) run(t *cachedToken) {
	if !time.Now().Before(t.expires) {
		return // gone by itself
	}
	select {
	case r.slots <- struct{}{}:
	default:
		klog.V(4).InfoS("revocations busy: leaving a discarded Vault token to expire", "expires", t.expires)
		return
	}
	defer func() { <-r.slots }()
	c, err := t.client.Clone()
	if err != nil {
		return
	}
	c.SetToken(t.token)
	c.SetNamespace(t.namespace)
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	err = c.Auth().Token().RevokeSelfWithContext(ctx, "")
	klog.V(4).InfoS("revoked a discarded Vault token", "vaultAddress", c.Address(), "err", err)
}
