package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vaultazure/vault-azure-csi-provider/test/world"
)

// forbiddenObjects names a path the shop-web role's policy does not allow.
const forbiddenObjects = "- {objectName: billing-key, secretPath: secret/billing/api, secretKey: key}\n"

// TestForbiddenPathCostsOneLogin: 100 Mounts of a class that names a path
// its policy refuses — half of them at once, then one after another as
// rotation polls come — make one login and give 100 clear errors. A 403 on
// a token obtained within the Mount is the policy's answer, remembered with
// the token; no token piles up in Vault.
func TestForbiddenPathCostsOneLogin(t *testing.T) {
	p := startLogged(t, "text")
	spc := world.SPC("forbidden", withDefaults(map[string]string{"objects": forbiddenObjects}))
	theWorld.Vault.RevokeAllTokens()
	before := theWorld.Vault.Stats()
	errs := make([]error, 100)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = mountAs(t, p, spc, world.WebPod, 30*time.Second)
		}()
	}
	wg.Wait()
	for i := 50; i < 100; i++ {
		_, errs[i] = mountAs(t, p, spc, world.WebPod, 30*time.Second)
	}
	after := theWorld.Vault.Stats()
	for i, err := range errs {
		st, _ := status.FromError(err)
		if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "secret/data/billing/api") || !strings.Contains(st.Message(), "HTTP 403") {
			t.Fatalf("mount %d: %v, want PermissionDenied naming secret/data/billing/api", i, err)
		}
	}
	logins := after.Logins - before.Logins
	t.Logf("100 mounts of a forbidden path: %d login(s), %d reads; the pod's event: %s", logins, after.Reads-before.Reads, status.Convert(errs[99]).Message())
	if logins != 1 {
		t.Errorf("%d logins for 100 mounts of a forbidden path, want 1", logins)
	}
	if n := theWorld.Vault.LiveTokens("azure"); n != 1 {
		t.Errorf("%d live azure tokens in Vault, want 1", n)
	}
}

// TestRefusedCachedTokenLogsInOnce: a 403 on a cached token at a path
// never refused before makes one fresh login for the identity (the role may
// have gained a policy since); the fresh token's 403 is the policy's answer,
// remembered, so later Mounts of the class log in no more. Nothing is looked
// up and the old token is not revoked (Vault would revoke with it every
// lease it created, the pods' dynamic secrets): it expires on its own.
func TestRefusedCachedTokenLogsInOnce(t *testing.T) {
	p := startLogged(t, "text")
	theWorld.Vault.RevokeAllTokens()
	var cached []string
	cached = tokensDuring(func() { mountDB(t, p, nil) })
	if len(cached) != 1 {
		t.Fatalf("warm mount made %d logins, want 1", len(cached))
	}
	spc := world.SPC("forbidden-later", withDefaults(map[string]string{"objects": forbiddenObjects}))
	before := theWorld.Vault.Stats()
	fresh := tokensDuring(func() {
		for range 5 {
			v, err := mountAs(t, p, spc, world.WebPod, 30*time.Second)
			expectFailure(t, v, err, codes.PermissionDenied, "secret/data/billing/api")
		}
		mountDB(t, p, nil)
	})
	lookups := theWorld.Vault.Stats().ByPath["auth/token/lookup-self"] - before.ByPath["auth/token/lookup-self"]
	if len(fresh) != 1 || lookups != 0 {
		t.Errorf("5 refused Mounts on a cached token: %d logins and %d token lookups, want 1 and 0", len(fresh), lookups)
	}
	if !theWorld.Vault.TokenValid(cached[0]) {
		t.Error("the old token was revoked")
	}
}
