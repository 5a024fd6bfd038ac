package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/cluster"
	"github.com/vaultazure/vault-azure-csi-provider/test/syncctl"
	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// The tests of this file run the provider as the Secrets Store Sync
// Controller runs it (a container of the controller's pod, --mode=sync-
// controller) and drive it as the controller's reconcile does (test/syncctl).

// syncKeyFile writes a version key for sync-controller providers: the
// chart's Secret, passed with --version-key-env in the controller's pod.
func syncKeyFile(t *testing.T) string {
	t.Helper()
	key := make([]byte, 48)
	_, _ = rand.Read(key)
	path := filepath.Join(t.TempDir(), "version-key")
	must(t, os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)), 0o600))
	return path
}

// startSync starts a provider in sync-controller mode with the version
// key in keyFile, with no pod-resources socket (the controller's pod has
// none) and the secret cache on, as installed.
func startSync(t *testing.T, keyFile string, flags ...string) *world.Provider {
	t.Helper()
	args := append([]string{"--mode=sync-controller", "--version-key-file=" + keyFile, "--kubelet-pod-resources-socket=", "-v=5"}, flags...)
	p, err := theWorld.StartProvider(args...)
	must(t, err)
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("provider did not exit cleanly: %v", err)
		}
		assertNoLeaks(t, "text", p.Logs())
	})
	return p
}

// controllerPod connects a sync controller pod named name to p; its
// tokens are the TokenRequest API's: 600 s, one audience each, bound to
// the controller's node.
func controllerPod(t *testing.T, p *world.Provider, name string) *syncctl.Controller {
	t.Helper()
	c, err := syncctl.Dial(p.Socket, &syncctl.Controller{
		PodName: name, PodUID: cluster.StableUID("pod", "secrets-store-sync-controller", name),
		Audiences: []string{world.AudienceAzure, world.AudienceVault},
		Tokens: func(ns, sa, aud string, ttl time.Duration) (string, error) {
			return theWorld.Cluster.Token(cluster.TokenRequest{Namespace: ns, ServiceAccount: sa, Audiences: []string{aud}, NodeName: "aks-nodepool1-0", TTL: ttl})
		},
	})
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func syncOf(ns, sa, name string, params map[string]string, data ...syncctl.DataRef) *syncctl.SecretSync {
	return &syncctl.SecretSync{Namespace: ns, Name: name, ServiceAccountName: sa, Class: world.SPC(name, params), Data: data}
}

func doSync(t *testing.T, c *syncctl.Controller, ss *syncctl.SecretSync) (*syncctl.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Sync(ctx, ss)
}

func mustSync(t *testing.T, c *syncctl.Controller, ss *syncctl.SecretSync) *syncctl.Result {
	t.Helper()
	res, err := doSync(t, c, ss)
	if err != nil {
		t.Fatalf("syncing %s/%s: %v", ss.Namespace, ss.Name, err)
	}
	return res
}

func sameResult(a, b *syncctl.Result) bool {
	if fmt.Sprint(a.Versions) != fmt.Sprint(b.Versions) || len(a.Data) != len(b.Data) {
		return false
	}
	for k, v := range a.Data {
		if string(b.Data[k]) != string(v) {
			return false
		}
	}
	return true
}

// TestSyncControllerSyncsKV: a SecretSync with workload identity and one
// with kubernetes auth get their Secret data; polls, a replaced
// controller pod and a restarted provider (same version key) give the
// same data and versions; the fixed target path is never written.
func TestSyncControllerSyncsKV(t *testing.T) {
	key := syncKeyFile(t)
	p := startSync(t, key)
	c := controllerPod(t, p, "secrets-store-sync-controller-6b9f7-x1")
	dbRefs := []syncctl.DataRef{{SourcePath: "db-password", TargetKey: "password"}, {SourcePath: "db-user", TargetKey: "username"}}
	objects := "- {objectName: db-password, secretPath: secret/shop/db, secretKey: password}\n- {objectName: db-user, secretPath: secret/shop/db, secretKey: username}\n"
	syncs := []*syncctl.SecretSync{
		syncOf("shop", "web", "db-wi", map[string]string{"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "objects": objects}, dbRefs...),
		syncOf("shop", "web", "db-k8s", map[string]string{"vaultAuthMethod": "kubernetes", "roleName": "shop-web", "audience": world.AudienceVault, "objects": objects}, dbRefs...),
	}
	first := map[string]*syncctl.Result{}
	for _, ss := range syncs {
		res := mustSync(t, c, ss)
		if string(res.Data["password"]) != world.DBPassword || string(res.Data["username"]) != world.DBUsername {
			t.Fatalf("%s: Secret data %q, want the seeded credentials", ss.Name, res.Data)
		}
		first[ss.Name] = res
	}
	again := func(c *syncctl.Controller, when string) {
		t.Helper()
		for _, ss := range syncs {
			if res := mustSync(t, c, ss); !sameResult(res, first[ss.Name]) {
				t.Errorf("%s %s: data or versions changed without a change in Vault (%v, was %v)", ss.Name, when, res.Versions, first[ss.Name].Versions)
			}
		}
	}
	again(c, "at the next poll")
	again(controllerPod(t, p, "secrets-store-sync-controller-6b9f7-y2"), "from a new controller pod")
	must(t, p.Stop())
	again(controllerPod(t, startSync(t, key), "secrets-store-sync-controller-6b9f7-y2"), "after a provider restart")
	if _, err := os.Stat(syncctl.TargetPath); !os.IsNotExist(err) {
		t.Errorf("%s exists (%v): the provider must not write the controller's target path", syncctl.TargetPath, err)
	}
}

// TestSyncControllerRefusesLentIdentities: in the controller's pod the
// node's managed identity and aad-pod-identity would be every
// SecretSync's: refused with FailedPrecondition, before any login; and a
// sync-controller provider will not start with node-identity rules.
func TestSyncControllerRefusesLentIdentities(t *testing.T) {
	p := startSync(t, syncKeyFile(t))
	c := controllerPod(t, p, "secrets-store-sync-controller-0")
	obj := "- {objectName: key, secretPath: secret/shop/api, secretKey: key}\n"
	for name, ss := range map[string]*syncctl.SecretSync{
		"node managed identity": syncOf(world.OpsPod.Namespace, world.OpsPod.ServiceAccount, "node", map[string]string{"roleName": "node-agent", "azureIdentity": "managed", "objects": obj}),
		"aad-pod-identity":      syncOf(world.LegacyPod.Namespace, world.LegacyPod.ServiceAccount, "legacy", map[string]string{"roleName": "legacy", "azureIdentity": "podIdentity", "objects": obj}),
	} {
		t.Run(name, func(t *testing.T) {
			before := requests("auth/azure/login")
			_, err := doSync(t, c, ss)
			st, _ := status.FromError(err)
			if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "--mode=sync-controller") || !strings.Contains(st.Message(), "azureIdentity: workload") {
				t.Fatalf("got %v, want FailedPrecondition saying why and what to use", err)
			}
			t.Logf("the SecretSync's condition: %s", st.Message())
			if n := requests("auth/azure/login") - before; n != 0 {
				t.Errorf("%d azure logins for a refused identity", n)
			}
		})
	}
	bin, err := world.ProviderBinary()
	must(t, err)
	out, err := exec.Command(bin, "--mode=sync-controller", "--allow-node-identity-namespaces=ops", "--endpoint", filepath.Join(t.TempDir(), "p.sock")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the same for every SecretSync") {
		t.Errorf("started with node-identity rules in sync-controller mode (err %v):\n%s", err, out)
	}
}

// TestDriverProviderRefusesTheSyncController: the node's provider (driver
// mode) refuses the controller's requests and says which mode to run.
func TestDriverProviderRefusesTheSyncController(t *testing.T) {
	c := controllerPod(t, prov, "secrets-store-sync-controller-0")
	_, err := doSync(t, c, syncOf("shop", "web", "db", withDefaults(nil), syncctl.DataRef{SourcePath: "db-password", TargetKey: "password"}))
	if st, _ := status.FromError(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "--mode=sync-controller") {
		t.Fatalf("got %v, want FailedPrecondition naming --mode=sync-controller", err)
	}
}

// TestSyncControllerIsolation: SecretSyncs of two namespaces, polled
// concurrently through one provider with the secret cache on: each gets
// its own data, neither can read the other's path (its token is its own,
// and the other's cached answer is not handed to it), and each database
// user is created by its own identity's token.
func TestSyncControllerIsolation(t *testing.T) {
	setupDynamic(t)
	p := startSync(t, syncKeyFile(t), "--secret-cache-ttl=1m")
	c := controllerPod(t, p, "secrets-store-sync-controller-0")
	since := time.Now()
	kv := func(path string) string { return "- {objectName: key, secretPath: " + path + ", secretKey: key}\n" }
	db := fmt.Sprintf(dbObjects, "long", "long")
	shop := syncOf("shop", "web", "api", map[string]string{"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "objects": kv("secret/shop/api")},
		syncctl.DataRef{SourcePath: "key", TargetKey: "key"})
	billing := syncOf("billing", "billing", "api", map[string]string{"roleName": "billing", "clientID": world.OtherIdentity.ClientID, "objects": kv("secret/billing/api")},
		syncctl.DataRef{SourcePath: "key", TargetKey: "key"})
	shopDB := syncOf("shop", "web", "db", map[string]string{"roleName": "dyn", "clientID": world.AppIdentity.ClientID, "objects": db},
		syncctl.DataRef{SourcePath: "username", TargetKey: "username"})
	billingDB := syncOf("billing", "billing", "db", map[string]string{"roleName": "dyn-bl", "clientID": world.OtherIdentity.ClientID, "objects": db},
		syncctl.DataRef{SourcePath: "username", TargetKey: "username"})
	shopTries := syncOf("shop", "web", "other", map[string]string{"roleName": "shop-web", "clientID": world.AppIdentity.ClientID, "objects": kv("secret/billing/api")})
	billingTries := syncOf("billing", "billing", "other", map[string]string{"roleName": "billing", "clientID": world.OtherIdentity.ClientID, "objects": kv("secret/shop/api")})
	users := map[string]map[string]bool{"shop": {}, "billing": {}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				for _, ss := range []*syncctl.SecretSync{shop, billing, shopDB, billingDB} {
					res, err := doSync(t, c, ss)
					if err != nil {
						t.Errorf("worker %d: %s/%s: %v", i, ss.Namespace, ss.Name, err)
						return
					}
					if ss.Name == "db" {
						mu.Lock()
						users[ss.Namespace][string(res.Data["username"])] = true
						mu.Unlock()
						continue
					}
					want := map[string]string{"shop": world.APIKey, "billing": world.BillingAPIKey}[ss.Namespace]
					if string(res.Data["key"]) != want {
						t.Errorf("%s's Secret got key %q, want its own", ss.Namespace, res.Data["key"])
					}
				}
				for _, ss := range []*syncctl.SecretSync{shopTries, billingTries} {
					if _, err := doSync(t, c, ss); status.Code(err) != codes.PermissionDenied {
						t.Errorf("%s read the other namespace's secret: %v", ss.Namespace, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(users["shop"]) != 1 || len(users["billing"]) != 1 {
		t.Fatalf("database users handed out: %v; want one per SecretSync, kept across 40 polls each", users)
	}
	created := usersSince(t, since)
	for ns, identity := range map[string]string{"shop": world.AppIdentity.ObjectID, "billing": world.OtherIdentity.ObjectID} {
		for u := range users[ns] {
			if got := created[u].DisplayName; !strings.Contains(got, identity) {
				t.Errorf("%s's database user %s was created by token %q, not its own identity's (%s)", ns, u, got, identity)
			}
		}
	}
	for u := range users["shop"] {
		if users["billing"][u] {
			t.Errorf("database user %s shared between namespaces", u)
		}
	}
}

// TestSyncControllerDynamicLifetime: with polls every 2 s a database user
// is kept and renewed across polls and controller pods, and revoked once
// its SecretSync stops asking for two polls and a margin (6 s); the
// Secret's data changes only with the credential.
func TestSyncControllerDynamicLifetime(t *testing.T) {
	setupDynamic(t)
	p := startSync(t, syncKeyFile(t), "--sync-poll-interval=2s")
	c := controllerPod(t, p, "secrets-store-sync-controller-0")
	ss := syncOf("shop", "web", "db", map[string]string{"roleName": "dyn", "clientID": world.AppIdentity.ClientID, "objects": fmt.Sprintf(dbObjects, "renewed", "renewed")},
		syncctl.DataRef{SourcePath: "username", TargetKey: "username"}, syncctl.DataRef{SourcePath: "password", TargetKey: "password"})
	since := time.Now()
	first := mustSync(t, c, ss)
	user := string(first.Data["username"])
	// 12 s of polls, past the lease's 6 s TTL: renewed in the background.
	for i := range 12 {
		time.Sleep(time.Second)
		pod := c
		if i == 6 {
			pod = controllerPod(t, p, "secrets-store-sync-controller-1") // the controller's pod was replaced
		}
		if res := mustSync(t, pod, ss); !sameResult(res, first) {
			t.Fatalf("poll %d: Secret data changed (user %q, was %q) while the lease could be renewed", i, res.Data["username"], user)
		}
	}
	u := usersSince(t, since)[user]
	if u.Renewals == 0 || !u.Revoked.IsZero() {
		t.Fatalf("database user %+v: want renewed and live after 12 s of polls", u)
	}
	if n := len(usersSince(t, since)); n != 1 {
		t.Errorf("%d database users created for one SecretSync, want 1", n)
	}
	stopped := time.Now()
	deadline := stopped.Add(20 * time.Second)
	for usersSince(t, since)[user].Revoked.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("database user %s not revoked 20 s after its SecretSync stopped asking (revoke after 6 s)", user)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after := usersSince(t, since)[user].Revoked.Sub(stopped); after < 5*time.Second {
		t.Errorf("revoked %s after the last poll, before two polls and a margin (6 s)", after)
	}
}
