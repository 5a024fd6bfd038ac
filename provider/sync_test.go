package provider

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultazure/vault-azure-csi-provider/auth"
	"github.com/vaultazure/vault-azure-csi-provider/provider/dynamic"
	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
)

// syncAttrs are the attributes the sync controller sends for a SecretSync
// of namespace ns and service account sa: the class's parameters, its own
// pod's name and UID (the same for every SecretSync), no driver additions.
func syncAttrs(t *testing.T, addr, objects, ns, sa, controllerPod string, extra map[string]string) string {
	t.Helper()
	m := map[string]string{
		params.AttrPodNamespace:       ns,
		params.AttrServiceAccountName: sa,
		params.AttrPodName:            controllerPod,
		params.AttrPodUID:             "uid-of-" + controllerPod,
	}
	for k, v := range extra {
		m[k] = v
	}
	return attributes(t, addr, objects, m)
}

const syncObjects = "- {objectName: user, secretPath: database/creds/app, secretKey: username}\n" +
	"- {objectName: a, secretPath: secret/a, secretKey: value}\n"

// clock is a settable time for the dynamic store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestSyncControllerServesTheWorkload: in sync-controller mode a request
// is the SecretSync's workload (namespace, service account, class), never
// the controller's pod: a replaced controller pod gets the same kept
// database user and versions; another namespace, service account or class
// gets its own; the login is asked for the workload, not the pod.
func TestSyncControllerServesTheWorkload(t *testing.T) {
	gv := newGatedVault(t, false)
	fa := &fakeAuth{}
	p := newProvider(t, Config{SyncController: true, SecretCacheTTL: time.Minute}, fa)
	mount := func(ns, sa, pod string, extra map[string]string) *Result {
		t.Helper()
		res, err := p.Mount(context.Background(), syncAttrs(t, gv.srv.URL, syncObjects, ns, sa, pod, extra), SyncTargetPath, "420")
		if err != nil {
			t.Fatalf("mount of %s/%s: %v", ns, sa, err)
		}
		return res
	}
	first := mount("shop", "web", "sync-controller-7d9f-abcde", nil)
	restarted := mount("shop", "web", "sync-controller-7d9f-zzzzz", nil)
	if string(first.Files[0].Contents) != string(restarted.Files[0].Contents) || first.Versions[0] != restarted.Versions[0] {
		t.Errorf("a new controller pod got database user %q (version %s), the first %q (%s): kept secrets must not depend on the controller's pod",
			restarted.Files[0].Contents, restarted.Versions[0].Version, first.Files[0].Contents, first.Versions[0].Version)
	}
	users := map[string]string{string(first.Files[0].Contents): "shop/web"}
	for name, res := range map[string]*Result{
		"another namespace":       mount("billing", "web", "sync-controller-7d9f-abcde", nil),
		"another service account": mount("shop", "batch", "sync-controller-7d9f-abcde", nil),
		"another class":           mount("shop", "web", "sync-controller-7d9f-abcde", map[string]string{"roleName": "app-2"}),
	} {
		u := string(res.Files[0].Contents)
		if prev, ok := users[u]; ok {
			t.Errorf("%s got database user %q, already handed to %s", name, u, prev)
		}
		users[u] = name
	}
	if n := gv.count("GET database/creds/app"); n != 4 {
		t.Errorf("%d database users issued, want 4 (one per workload)", n)
	}
	for _, r := range fa.reqs {
		if strings.Contains(r.Pod.Name+r.Pod.UID, "sync-controller") || !strings.HasPrefix(r.Pod.UID, "secretsync-") {
			t.Errorf("login asked for pod %+v: the controller's pod leaked into the workload", r.Pod)
		}
	}
	if fa.reqs[0].Pod != fa.reqs[1].Pod || fa.reqs[0].Pod == fa.reqs[2].Pod {
		t.Errorf("workload pods %+v, %+v, %+v: want the first two equal (same SecretSync), the third different (namespace)", fa.reqs[0].Pod, fa.reqs[1].Pod, fa.reqs[2].Pod)
	}
}

// TestSyncControllerRefusesLentIdentities: identities the provider's host
// lends (the node's managed identity, aad-pod-identity) are refused before
// any login; the service account's own are served.
func TestSyncControllerRefusesLentIdentities(t *testing.T) {
	gv := newGatedVault(t, false)
	tests := []struct {
		name    string
		extra   map[string]string
		refused string
	}{
		{"node managed identity", map[string]string{"vaultAuthMethod": "azure", "azureIdentity": "managed"}, "managed identity of the node"},
		{"aad-pod-identity", map[string]string{"vaultAuthMethod": "azure", "azureIdentity": "podIdentity"}, "aad-pod-identity"},
		{"workload identity", map[string]string{"vaultAuthMethod": "azure", "azureIdentity": "workload", "tenantID": "7f3b1c52-3f0e-4b7a-9a51-6c1f2d9e8a40",
			"clientID": "0c6b8f2e-5a1d-4c3b-9e7f-1a2b3c4d5e6f"}, ""},
		{"kubernetes", nil, ""},
		{"jwt", map[string]string{"vaultAuthMethod": "jwt"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fa := &fakeAuth{}
			p := newProvider(t, Config{SyncController: true}, fa)
			_, err := p.Mount(context.Background(), syncAttrs(t, gv.srv.URL, "- {objectName: a, secretPath: secret/a, secretKey: value}", "shop", "web", "ctrl-0", tc.extra), SyncTargetPath, "420")
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Kind != auth.KindConfig {
				t.Fatalf("err = %v, want a configuration refusal (FailedPrecondition)", err)
			}
			for _, want := range []string{tc.refused, "--mode=sync-controller", "shop/web", "azureIdentity: workload"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
			if calls, _, _ := fa.stats(); calls != 0 {
				t.Errorf("%d logins asked for a refused identity", calls)
			}
		})
	}
}

// TestDriverModeRefusesTheSyncController: a provider serving the driver
// refuses the controller's requests (fixed target path), before Vault:
// there the node's identity and per-pod keys would be shared by every
// SecretSync.
func TestDriverModeRefusesTheSyncController(t *testing.T) {
	gv := newGatedVault(t, false)
	fa := &fakeAuth{}
	p := newProvider(t, Config{}, fa)
	_, err := p.Mount(context.Background(), syncAttrs(t, gv.srv.URL, syncObjects, "shop", "web", "ctrl-0", nil), SyncTargetPath, "420")
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Kind != auth.KindConfig || !strings.Contains(err.Error(), "--mode=sync-controller") {
		t.Fatalf("err = %v, want a refusal naming --mode=sync-controller", err)
	}
	if calls, _, _ := fa.stats(); calls != 0 {
		t.Errorf("%d logins for a refused request", calls)
	}
	if _, err := p.Mount(context.Background(), syncAttrs(t, gv.srv.URL, syncObjects, "shop", "web", "web-0", nil), "/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~csi/secrets/mount", "420"); err != nil {
		t.Fatalf("the driver's own request: %v", err)
	}
}

// TestSyncControllerDynamicLifetime: a kept secret is renewed while the
// SecretSync polls, replaced at a poll when it would not outlive the next
// one, and revoked once not asked for in two poll intervals and a margin.
func TestSyncControllerDynamicLifetime(t *testing.T) {
	gv := newGatedVault(t, false)
	clk := &clock{now: time.Now()}
	poll := 30 * time.Minute
	p := newProvider(t, Config{SyncController: true, SyncPollInterval: poll, Dynamic: dynamic.Config{Now: clk.Now}}, &fakeAuth{})
	objects := "- {objectName: user, secretPath: database/creds/app, secretKey: username}\n" +
		"- {objectName: cert, secretPath: pki/issue/web, method: POST, secretKey: certificate}\n"
	attrs := syncAttrs(t, gv.srv.URL, objects, "shop", "web", "ctrl-0", nil)
	mount := func() *Result {
		t.Helper()
		res, err := p.Mount(context.Background(), attrs, SyncTargetPath, "420")
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// advance moves the clock by d, sweeping every 5 minutes as Run does
	// every second: background renewals at two thirds of each lease.
	advance := func(d time.Duration) {
		for step := 5 * time.Minute; d > 0; d -= step {
			clk.add(min(step, d))
			p.dynamic.Sweep(context.Background())
		}
	}
	first := mount()
	// The certificate lives an hour (gatedVault): at 25 min it outlives
	// the next poll, at 35 min it would not (though it is not yet in the
	// last third of its life, when a pod's Mount replaces it).
	advance(25 * time.Minute)
	second := mount()
	if string(second.Files[1].Contents) != string(first.Files[1].Contents) {
		t.Error("the certificate was replaced with 35 of its 60 minutes left, more than a poll (30 min)")
	}
	advance(10 * time.Minute)
	third := mount()
	if string(third.Files[1].Contents) == string(first.Files[1].Contents) {
		t.Error("the certificate was handed out with 25 minutes left, less than the next poll's 30")
	}
	if string(third.Files[0].Contents) != string(first.Files[0].Contents) {
		t.Error("the database user (a one-hour lease, renewed in the background) changed between polls")
	}
	advance(SyncRevokeAfter(poll) - 5*time.Minute)
	if n := gv.count("PUT sys/leases/renew"); n < 3 {
		t.Errorf("the one-hour lease was renewed %d times in %s, want at least 3 (at two thirds)", n, SyncRevokeAfter(poll))
	}
	if n := p.DynamicLeases(); n != 1 || gv.countPrefix("PUT sys/leases/revoke/") != 0 {
		t.Fatalf("%d leases kept, %d revoked before two polls and a margin without a Mount; want 1 kept, none revoked", n, gv.countPrefix("PUT sys/leases/revoke/"))
	}
	advance(10 * time.Minute)
	if n := p.DynamicLeases(); n != 0 {
		t.Errorf("%d leases kept after two polls and a margin without a Mount, want 0", n)
	}
	if n := gv.countPrefix("PUT sys/leases/revoke/database/creds/app/"); n != 1 {
		t.Errorf("%d revocations of the database lease, want 1", n)
	}
}
